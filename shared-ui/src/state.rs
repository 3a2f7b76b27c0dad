//! Saved-state hygiene shared by every plugin's `Plugin::filter_state`.
//!
//! nice-plug applies saved parameter values as they are. A session edited by hand, written by a
//! buggy host or corrupted on disk could carry a gain of 1e39 or NaN, which would reach the audio.
//! Every plugin passes its state through [`sanitize_state`] first: values outside a parameter's
//! range are clamped to it, non-finite values fall back to the default. This is also the one place
//! where later versions migrate old states (keyed on `PluginState::version`).

use nice_plug::plugin::{ParamValue, PluginState};
use nice_plug::prelude::*;

/// Clamps every saved float/int parameter of `P` into its range and replaces non-finite values
/// with the parameter's default. Unknown IDs are left for nice-plug to ignore.
pub fn sanitize_state<P: Params + Default>(state: &mut PluginState) {
    let params = P::default();
    for (id, ptr, _) in params.param_map() {
        let Some(value) = state.params.get_mut(&id) else {
            continue;
        };
        // SAFETY: `params` outlives every `ptr` taken from it in this loop.
        let (lo, hi, default) = unsafe {
            let a = ptr.preview_plain(0.0);
            let b = ptr.preview_plain(1.0);
            (a.min(b), a.max(b), ptr.default_plain_value())
        };
        match value {
            ParamValue::F32(v) if !v.is_finite() => *v = default,
            ParamValue::F32(v) => *v = v.clamp(lo, hi),
            ParamValue::I32(v) => *v = (*v).clamp(lo as i32, hi as i32),
            ParamValue::Bool(_) | ParamValue::String(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::OutputParams;
    use std::collections::BTreeMap;

    #[derive(Params, Default)]
    struct TestParams {
        #[nested(group = "Output")]
        output: OutputParams,
    }

    fn state_with_gain(v: f32) -> PluginState {
        let mut params = BTreeMap::new();
        params.insert("out_gain".to_owned(), ParamValue::F32(v));
        params.insert("bypass".to_owned(), ParamValue::Bool(true));
        PluginState {
            version: String::new(),
            params,
            fields: BTreeMap::new(),
        }
    }

    fn gain(state: &PluginState) -> f32 {
        match state.params["out_gain"] {
            ParamValue::F32(v) => v,
            _ => panic!("out_gain is a float"),
        }
    }

    #[test]
    fn out_of_range_gain_is_clamped_to_the_range() {
        let max = shared_dsp::util::db_to_gain(crate::output::OUTPUT_GAIN_MAX_DB);
        let min = shared_dsp::util::db_to_gain(crate::output::OUTPUT_GAIN_MIN_DB);
        let mut s = state_with_gain(1000.0);
        sanitize_state::<TestParams>(&mut s);
        assert!((gain(&s) - max).abs() < 1e-4, "{}", gain(&s));
        let mut s = state_with_gain(-3.0);
        sanitize_state::<TestParams>(&mut s);
        assert!((gain(&s) - min).abs() < 1e-6, "{}", gain(&s));
    }

    #[test]
    fn non_finite_gain_falls_back_to_default() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut s = state_with_gain(bad);
            sanitize_state::<TestParams>(&mut s);
            assert_eq!(gain(&s), 1.0);
        }
    }

    #[test]
    fn in_range_values_are_kept_bit_exact() {
        let mut s = state_with_gain(1.2345678);
        sanitize_state::<TestParams>(&mut s);
        assert_eq!(gain(&s), 1.2345678);
        assert!(matches!(s.params["bypass"], ParamValue::Bool(true)));
    }
}
