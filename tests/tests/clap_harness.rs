//! End-to-end tests of every Postmix plugin through a real CLAP host (clack-host).
//!
//! Loads the `.clap` bundles in `POSTMIX_BUNDLES` (set by `cargo xtask test`: release-speed
//! bundles built with `assert_process_allocs`, so any allocation in `process` aborts the run).
//! Every test runs on all five plugins and reports every plugin that fails, not only the first.
//! A missing variable, a missing bundle or an unknown bundle is a failure, never a silent pass.

use postmix_tests::{
    Blocks, Library, ParamChange, ParamInfo, Plugin, Processed, Run, bundle_dir, clap_bundles,
    param_id_hash,
};
use shared_dsp::signal::{Rng, programme};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What each plugin must declare.
struct Expected {
    /// Crate directory under plugins/ (the CLAP ID is `org.postmix.<crate>`).
    krate: &'static str,
    /// Display name, which is also the bundle's file name.
    name: &'static str,
    /// CLAP features, exactly.
    features: &'static [&'static str],
    /// Whether the default layout has a stereo sidechain input port.
    sidechain: bool,
    /// Audio-port configurations that must be offered: (main input/output channels).
    required_configs: &'static [u32],
}

/// The suite's plugin table (issue 2).
const EXPECTED: [Expected; 5] = [
    Expected {
        krate: "channel-strip",
        name: "Postmix Channel Strip",
        features: &["audio-effect", "equalizer", "compressor", "mono", "stereo"],
        sidechain: true,
        required_configs: &[2, 1],
    },
    Expected {
        krate: "bus-compressor",
        name: "Postmix Bus Compressor",
        features: &["audio-effect", "compressor", "stereo"],
        sidechain: true,
        required_configs: &[2],
    },
    Expected {
        krate: "linear-phase-eq",
        name: "Postmix Linear-Phase EQ",
        features: &["audio-effect", "equalizer", "stereo"],
        sidechain: false,
        required_configs: &[2],
    },
    Expected {
        krate: "limiter",
        name: "Postmix Limiter",
        features: &["audio-effect", "limiter", "mastering", "stereo"],
        sidechain: false,
        required_configs: &[2],
    },
    Expected {
        krate: "loudness-meter",
        name: "Postmix Loudness Meter",
        features: &["audio-effect", "analyzer", "stereo", "surround"],
        sidechain: false,
        required_configs: &[2, 1, 5, 6],
    },
];

impl Expected {
    fn id(&self) -> String {
        format!("org.postmix.{}", self.krate)
    }

    fn bundle(&self) -> PathBuf {
        bundle_dir().join(format!("{}.clap", self.name))
    }

    fn load(&self) -> Library {
        let path = self.bundle();
        assert!(
            path.exists(),
            "bundle {} is missing from POSTMIX_BUNDLES (run `cargo xtask test`, which builds them)",
            path.display()
        );
        Library::load(&path).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    fn instantiate(&self) -> Plugin {
        self.load()
            .instantiate(&self.id())
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// Runs `check` for every plugin and panics listing every failure.
fn for_each_plugin(check: impl Fn(&Expected) -> Result<(), String>) {
    let mut failures = Vec::new();
    for e in &EXPECTED {
        // Catch panics too, so one plugin's failure does not hide the others'.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(e)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => failures.push(format!("{}: {msg}", e.name)),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("{}: panicked: {msg}", e.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} plugin(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `channels` channels of the deterministic programme signal (`seconds` long at `fs`).
fn signal(channels: usize, fs: f64, seconds: f64, seed: u64) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(channels);
    let mut s = seed;
    while out.len() < channels {
        for ch in programme(fs, seconds, s) {
            if out.len() < channels {
                out.push(ch);
            }
        }
        s += 1;
    }
    out
}

/// Largest absolute difference between two multichannel signals (infinite on shape mismatch).
fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, usize, usize) {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
        return (f32::INFINITY, 0, 0);
    }
    let mut worst = (0.0f32, 0, 0);
    for (ch, (x, y)) in a.iter().zip(b).enumerate() {
        for (i, (p, q)) in x.iter().zip(y).enumerate() {
            let d = (p - q).abs();
            if d > worst.0 || d.is_nan() {
                worst = (if d.is_nan() { f32::INFINITY } else { d }, ch, i);
            }
        }
    }
    worst
}

/// The first non-finite output sample, if any: (channel, index, value).
fn first_non_finite(out: &[Vec<f32>]) -> Option<(usize, usize, f32)> {
    out.iter()
        .enumerate()
        .find_map(|(ch, x)| x.iter().position(|v| !v.is_finite()).map(|i| (ch, i, x[i])))
}

fn check_finite(what: &str, p: &Processed) -> Result<(), String> {
    match first_non_finite(&p.output) {
        Some((ch, i, v)) => Err(format!("{what}: output[{ch}][{i}] = {v}")),
        None => Ok(()),
    }
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

fn find_param(params: &[ParamInfo], string_id: &str) -> Result<ParamInfo, String> {
    let id = param_id_hash(string_id);
    params
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| format!("no parameter with ID `{string_id}` (CLAP id {id})"))
}

/// A random plain value for a parameter (an integer for stepped ones).
fn random_value(p: &ParamInfo, rng: &mut Rng) -> f64 {
    let v = p.min + rng.uniform() * (p.max - p.min);
    if p.stepped {
        v.round().clamp(p.min, p.max)
    } else {
        v
    }
}

const RATES: [f64; 4] = [44_100.0, 48_000.0, 96_000.0, 192_000.0];
const BLOCKS: [usize; 5] = [1, 17, 64, 512, 4096];
const MAX_BLOCK: u32 = 4096;

#[test]
fn every_expected_bundle_is_present_and_there_are_no_unknown_ones() {
    let dir = bundle_dir();
    let found: BTreeSet<String> = clap_bundles(&dir)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let wanted: BTreeSet<String> = EXPECTED.iter().map(|e| e.name.to_owned()).collect();
    let missing: Vec<_> = wanted.difference(&found).collect();
    let unknown: Vec<_> = found.difference(&wanted).collect();
    assert!(
        missing.is_empty(),
        "bundles missing from {}: {missing:?}",
        dir.display()
    );
    assert!(
        unknown.is_empty(),
        "unknown bundles in {} (add them to EXPECTED): {unknown:?}",
        dir.display()
    );
}

#[test]
fn descriptor_has_the_suite_id_name_vendor_version_and_exact_features() {
    for_each_plugin(|e| {
        let lib = e.load();
        let descriptors = lib.descriptors();
        let [d] = descriptors.as_slice() else {
            return Err(format!(
                "expected one descriptor, found {}",
                descriptors.len()
            ));
        };
        let mut problems = Vec::new();
        if d.id != e.id() {
            problems.push(format!("id {:?}, expected {:?}", d.id, e.id()));
        }
        if d.name != e.name {
            problems.push(format!("name {:?}, expected {:?}", d.name, e.name));
        }
        if d.vendor != "Postmix" {
            problems.push(format!("vendor {:?}", d.vendor));
        }
        if d.version != env!("CARGO_PKG_VERSION") {
            problems.push(format!(
                "version {:?}, workspace is {}",
                d.version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        let got: BTreeSet<&str> = d.features.iter().map(String::as_str).collect();
        let want: BTreeSet<&str> = e.features.iter().copied().collect();
        if got != want || got.len() != d.features.len() {
            problems.push(format!(
                "features {:?}, expected {:?}",
                d.features, e.features
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    });
}

#[test]
fn audio_ports_are_stereo_main_in_out_plus_stereo_sidechain_where_expected() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        for ext in [
            "params",
            "state",
            "latency",
            "audio-ports",
            "audio-ports-config",
        ] {
            if !plugin.has_extension(ext) {
                return Err(format!("missing CLAP extension {ext}"));
            }
        }
        let ins = plugin.audio_ports(true);
        let outs = plugin.audio_ports(false);
        let describe = |p: &[postmix_tests::PortInfo]| format!("{p:?}");
        let want_ins = if e.sidechain { 2 } else { 1 };
        if ins.len() != want_ins {
            return Err(format!(
                "{} input ports, expected {want_ins}: {}",
                ins.len(),
                describe(&ins)
            ));
        }
        if outs.len() != 1 {
            return Err(format!(
                "{} output ports, expected 1: {}",
                outs.len(),
                describe(&outs)
            ));
        }
        for (what, p) in [("main input", &ins[0]), ("main output", &outs[0])] {
            if !p.is_main || p.channel_count != 2 || p.port_type.as_deref() != Some("stereo") {
                return Err(format!("{what} is not a stereo main port: {p:?}"));
            }
        }
        if ins[0].in_place_pair != Some(outs[0].id) {
            return Err(format!(
                "main ports not paired for in-place processing: {ins:?} {outs:?}"
            ));
        }
        if e.sidechain {
            let sc = &ins[1];
            if sc.is_main || sc.channel_count != 2 || !sc.name.to_lowercase().contains("sidechain")
            {
                return Err(format!("second input is not a stereo sidechain: {sc:?}"));
            }
        }
        Ok(())
    });
}

#[test]
fn every_offered_port_config_includes_the_required_layouts_and_processes_finite_audio() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        let configs = plugin.port_configs();
        for &ch in e.required_configs {
            if !configs
                .iter()
                .any(|c| c.main_input_channels == Some(ch) && c.main_output_channels == Some(ch))
            {
                return Err(format!("no {ch}-channel in/out config among {configs:?}"));
            }
        }
        for c in &configs {
            plugin.select_port_config(c.id).map_err(|x| x.to_string())?;
            let ins = plugin.audio_ports(true);
            let outs = plugin.audio_ports(false);
            if Some(ins[0].channel_count) != c.main_input_channels
                || Some(outs[0].channel_count) != c.main_output_channels
                || ins.len() as u32 != c.input_port_count
                || outs.len() as u32 != c.output_port_count
            {
                return Err(format!(
                    "config {c:?} selected, but ports are {ins:?} -> {outs:?}"
                ));
            }
            plugin
                .activate(48_000.0, 1, 512)
                .map_err(|x| x.to_string())?;
            let input = signal(ins[0].channel_count as usize, 48_000.0, 0.5, 3);
            let out = plugin
                .process(&Run::new(&input, Blocks::Fixed(512)))
                .map_err(|x| x.to_string())?;
            check_finite(&format!("config {:?}", c.name), &out)?;
            if out.output.len() != c.main_output_channels.unwrap_or(0) as usize {
                return Err(format!(
                    "config {:?}: {} output channels",
                    c.name,
                    out.output.len()
                ));
            }
            plugin.deactivate();
        }
        Ok(())
    });
}

#[test]
fn params_include_bypass_and_out_gain_and_every_value_is_in_range() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        let params = plugin.params();
        if params.is_empty() {
            return Err("no parameters".into());
        }
        let ids: BTreeSet<u32> = params.iter().map(|p| p.id).collect();
        if ids.len() != params.len() {
            return Err("duplicate parameter IDs".into());
        }
        for p in &params {
            let value = plugin
                .param_value(p.id)
                .ok_or(format!("no value for {}", p.name))?;
            let ok = p.min < p.max
                && (p.min..=p.max).contains(&p.default)
                && (p.min..=p.max).contains(&value)
                && (value - p.default).abs() < 1e-9;
            if !ok || p.name.is_empty() {
                return Err(format!(
                    "param {p:?}: value {value} (fresh instance, expected default)"
                ));
            }
            if plugin
                .param_value_to_text(p.id, p.default)
                .is_none_or(|t| t.is_empty())
            {
                return Err(format!("param {:?} has no text for its default", p.name));
            }
        }
        let bypass = find_param(&params, "bypass")?;
        if !(bypass.bypass
            && bypass.stepped
            && bypass.min == 0.0
            && bypass.max == 1.0
            && bypass.default == 0.0)
        {
            return Err(format!(
                "`bypass` is not an off-by-default bypass toggle: {bypass:?}"
            ));
        }
        let gain = find_param(&params, "out_gain")?;
        if gain.name != "Output Gain" || gain.stepped || !gain.automatable {
            return Err(format!("`out_gain` looks wrong: {gain:?}"));
        }
        // 0 dB by default, displayed in dB.
        let text = plugin
            .param_value_to_text(gain.id, gain.default)
            .unwrap_or_default();
        let db: f64 = text
            .trim_end_matches("dB")
            .trim()
            .parse()
            .map_err(|_| format!("out_gain text {text:?}"))?;
        if db.abs() > 0.005 || !text.ends_with("dB") {
            return Err(format!("out_gain default shows {text:?}, expected 0.00 dB"));
        }
        Ok(())
    });
}

#[test]
fn out_gain_set_to_plus_6_db_scales_the_output_by_6_db() {
    for_each_plugin(|e| {
        let fs = 48_000.0;
        let mut plugin = e.instantiate();
        let gain = find_param(&plugin.params(), "out_gain")?;
        let plus6 = plugin
            .param_text_to_value(gain.id, "6 dB")
            .ok_or("out_gain cannot parse \"6 dB\"")?;
        let input = signal(2, fs, 0.5, 5);
        plugin.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let reference = plugin
            .process(&Run::new(&input, Blocks::Fixed(512)))
            .map_err(|x| x.to_string())?;
        plugin.deactivate();
        plugin
            .flush_params(&[(gain.id, plus6)])
            .map_err(|x| x.to_string())?;
        plugin.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let louder = plugin
            .process(&Run::new(&input, Blocks::Fixed(512)))
            .map_err(|x| x.to_string())?;
        // 10^(6/20), the gain that "6 dB" names.
        let g = 10f32.powf(6.0 / 20.0);
        let scaled: Vec<Vec<f32>> = reference
            .output
            .iter()
            .map(|c| c.iter().map(|v| v * g).collect())
            .collect();
        let (d, ch, i) = max_diff(&louder.output, &scaled);
        if d > 1e-5 {
            return Err(format!(
                "out_gain +6 dB: output[{ch}][{i}] off by {d} from 10^(6/20) x the 0 dB output"
            ));
        }
        if rms(&reference.output[0]) < 1e-3 {
            return Err("the 0 dB output is silent".into());
        }
        Ok(())
    });
}

#[test]
fn bypass_outputs_the_input_delayed_by_the_reported_latency() {
    for_each_plugin(|e| {
        let fs = 48_000.0;
        let mut plugin = e.instantiate();
        let bypass = find_param(&plugin.params(), "bypass")?;
        plugin
            .flush_params(&[(bypass.id, 1.0)])
            .map_err(|x| x.to_string())?;
        plugin.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let latency = plugin.latency() as usize;
        let input = signal(2, fs, 0.5, 6);
        let out = plugin
            .process(&Run::new(&input, Blocks::Fixed(256)))
            .map_err(|x| x.to_string())?;
        let expected: Vec<Vec<f32>> = input
            .iter()
            .map(|c| {
                let mut d = vec![0.0f32; latency.min(c.len())];
                d.extend_from_slice(&c[..c.len() - d.len()]);
                d
            })
            .collect();
        let (d, ch, i) = max_diff(&out.output, &expected);
        if d > 1e-6 {
            return Err(format!(
                "bypassed output[{ch}][{i}] differs from the input delayed by {latency} samples by {d}"
            ));
        }
        Ok(())
    });
}

#[test]
fn output_is_finite_and_block_size_invariant_at_44k1_48k_96k_and_192k() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        let mut problems = Vec::new();
        for (k, &fs) in RATES.iter().enumerate() {
            let input = signal(2, fs, 1.0, 10 + k as u64);
            plugin
                .activate(fs, 1, MAX_BLOCK)
                .map_err(|x| x.to_string())?;
            let reference = plugin
                .process(&Run::new(&input, Blocks::Fixed(512)))
                .map_err(|x| x.to_string())?;
            check_finite(&format!("{fs} Hz, blocks of 512"), &reference)?;
            let mut plans: Vec<(String, Blocks)> = BLOCKS
                .iter()
                .filter(|&&b| b != 512)
                .map(|&b| (format!("blocks of {b}"), Blocks::Fixed(b)))
                .collect();
            plans.push((
                "random blocks of 1..=1000".into(),
                Blocks::random(77 + k as u64, 1, 1000, 4000),
            ));
            for (label, blocks) in plans {
                // Reactivate so each run starts from a freshly activated, reset plugin.
                plugin
                    .activate(fs, 1, MAX_BLOCK)
                    .map_err(|x| x.to_string())?;
                let out = plugin
                    .process(&Run::new(&input, blocks))
                    .map_err(|x| x.to_string())?;
                check_finite(&format!("{fs} Hz, {label}"), &out)?;
                let (d, ch, i) = max_diff(&out.output, &reference.output);
                if d > 1e-6 {
                    problems.push(format!(
                        "{fs} Hz, {label}: output[{ch}][{i}] differs from the 512-block run by {d}"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    });
}

#[test]
fn nan_inf_and_denormal_burst_in_the_input_gives_finite_output_and_the_plugin_recovers() {
    for_each_plugin(|e| {
        let fs = 48_000.0;
        let mut plugin = e.instantiate();
        plugin.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let mut input = signal(2, fs, 1.0, 20);
        for (ch, x) in input.iter_mut().enumerate() {
            x[10_000..10_064].fill(f32::NAN);
            for (i, v) in x[10_064..10_128].iter_mut().enumerate() {
                *v = if (i + ch) % 2 == 0 {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                };
            }
            // Subnormals (smallest normal f32 is 1.18e-38), alternating sign, for 0.1 s.
            for (i, v) in x[10_128..14_928].iter_mut().enumerate() {
                *v = if i % 2 == 0 { 1e-40 } else { -3e-42 };
            }
        }
        let out = plugin
            .process(&Run::new(&input, Blocks::Fixed(128)))
            .map_err(|x| x.to_string())?;
        check_finite("after NaN/inf/denormal burst", &out)?;
        // The last 0.25 s (well after the burst) must carry the signal again: within 20 dB of
        // the input's level over the same stretch.
        let tail = input[0].len() - 12_000;
        for (ch, (y, x)) in out.output.iter().zip(&input).enumerate() {
            let ratio = rms(&y[tail..]) / rms(&x[tail..]);
            if !(0.1..=10.0).contains(&ratio) {
                return Err(format!(
                    "channel {ch} did not recover: output/input RMS {ratio:.4} after the burst"
                ));
            }
        }
        // And a second run (after the burst, same activation) is also finite.
        let again = plugin
            .process(&Run::new(&signal(2, fs, 0.25, 21), Blocks::Fixed(64)))
            .map_err(|x| x.to_string())?;
        check_finite("the run after the burst", &again)
    });
}

/// Every automatable, visible parameter except bypass, set to a seeded random value.
fn random_settings(params: &[ParamInfo], seed: u64) -> Vec<(u32, f64)> {
    let mut rng = Rng::new(seed);
    params
        .iter()
        .filter(|p| p.automatable && !p.hidden && !p.read_only && !p.bypass)
        .map(|p| {
            let mut v = random_value(p, &mut rng);
            if (v - p.default).abs() < 1e-6 * (p.max - p.min) {
                v = if p.default > p.min { p.min } else { p.max };
            }
            (p.id, v)
        })
        .collect()
}

#[test]
fn state_saved_after_automation_loads_into_a_fresh_instance_with_equal_params_and_output() {
    for_each_plugin(|e| {
        let fs = 48_000.0;
        let mut a = e.instantiate();
        let params = a.params();
        let settings = random_settings(&params, 99);
        if settings.is_empty() {
            return Err("no automatable parameter to set".into());
        }
        // Set the values the way a DAW's automation does: events in a processing run.
        let events: Vec<ParamChange> = settings
            .iter()
            .map(|&(id, value)| ParamChange {
                sample: 0,
                id,
                value,
            })
            .collect();
        a.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let warmup = signal(2, fs, 0.1, 30);
        a.process(&Run::new(&warmup, Blocks::Fixed(512)).with_events(&events))
            .map_err(|x| x.to_string())?;
        // The events took effect: every value moved towards its target (a parameter with a step
        // size may snap to the nearest step, so exact equality is not required), and at least
        // one left its default.
        let mut changed = 0;
        for &(id, value) in &settings {
            let p = params.iter().find(|p| p.id == id).expect("listed");
            let got = a.param_value(id).unwrap_or(f64::NAN);
            let closer = (got - value).abs() <= (p.default - value).abs(); // false for NaN
            if !closer {
                return Err(format!(
                    "param {:?}: set {value} by event, reads {got} (default {})",
                    p.name, p.default
                ));
            }
            changed += usize::from((got - p.default).abs() > 1e-9);
        }
        if changed == 0 {
            return Err("no parameter event changed a value".into());
        }
        let state = a.save_state().map_err(|x| x.to_string())?;
        let mut b = e.instantiate();
        b.load_state(&state).map_err(|x| x.to_string())?;
        for p in &params {
            let (va, vb) = (
                a.param_value(p.id).unwrap_or(f64::NAN),
                b.param_value(p.id).unwrap_or(f64::NAN),
            );
            let close = (va - vb).abs() <= 1e-5; // false for NaN (missing value)
            if !close {
                return Err(format!(
                    "param {:?}: {va} before save, {vb} after load",
                    p.name
                ));
            }
        }
        // Same settings, freshly activated: same output.
        let input = signal(2, fs, 0.5, 31);
        a.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        b.activate(fs, 1, 512).map_err(|x| x.to_string())?;
        let out_a = a
            .process(&Run::new(&input, Blocks::Fixed(512)))
            .map_err(|x| x.to_string())?;
        let out_b = b
            .process(&Run::new(&input, Blocks::Fixed(512)))
            .map_err(|x| x.to_string())?;
        let (d, ch, i) = max_diff(&out_a.output, &out_b.output);
        if d > 1e-6 {
            return Err(format!(
                "after state load, output[{ch}][{i}] differs by {d}"
            ));
        }
        Ok(())
    });
}

#[test]
fn truncated_or_garbage_state_is_rejected_and_params_stay_default() {
    for_each_plugin(|e| {
        let mut donor = e.instantiate();
        let settings = random_settings(&donor.params(), 7);
        donor.flush_params(&settings).map_err(|x| x.to_string())?;
        let valid = donor.save_state().map_err(|x| x.to_string())?;
        let mut rng = Rng::new(1234);
        let noise: Vec<u8> = (0..2000).map(|_| rng.next_u64() as u8).collect();
        let mut claims_more = (1_000_000u64).to_le_bytes().to_vec();
        claims_more.extend_from_slice(b"{\"params\":{}}");
        let mut not_json = (16u64).to_le_bytes().to_vec();
        not_json.extend_from_slice(b"this is not json");
        let blobs: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("3 bytes", vec![1, 2, 3]),
            (
                "first half of a valid state",
                valid[..valid.len() / 2].to_vec(),
            ),
            (
                "valid state minus its last byte",
                valid[..valid.len() - 1].to_vec(),
            ),
            ("2000 random bytes", noise),
            ("length prefix larger than the data", claims_more),
            ("length-prefixed non-JSON", not_json),
        ];
        for (label, blob) in blobs {
            let mut plugin = e.instantiate();
            let params = plugin.params();
            let result = plugin.load_state(&blob);
            for p in &params {
                let v = plugin.param_value(p.id).unwrap_or(f64::NAN);
                let at_default = (v - p.default).abs() < 1e-9; // false for NaN
                if !at_default {
                    return Err(format!(
                        "{label}: load returned {result:?} and left {:?} at {v} (default {})",
                        p.name, p.default
                    ));
                }
            }
            // Still works afterwards.
            plugin
                .activate(48_000.0, 1, 256)
                .map_err(|x| format!("{label}: {x}"))?;
            let out = plugin
                .process(&Run::new(
                    &signal(2, 48_000.0, 0.05, 40),
                    Blocks::Fixed(256),
                ))
                .map_err(|x| format!("{label}: {x}"))?;
            check_finite(label, &out)?;
        }
        Ok(())
    });
}

#[test]
fn reported_latency_equals_the_delay_of_an_impulse_at_every_rate() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        let mut report = Vec::new();
        for &fs in &RATES {
            plugin.activate(fs, 1, 512).map_err(|x| x.to_string())?;
            let latency = plugin.latency() as usize;
            let at = 1000;
            let len = at + latency + (0.1 * fs) as usize;
            let mut input = vec![vec![0.0f32; len]; 2];
            for ch in &mut input {
                ch[at] = 0.5;
            }
            let out = plugin
                .process(&Run::new(&input, Blocks::Fixed(512)))
                .map_err(|x| x.to_string())?;
            check_finite("impulse", &out)?;
            for (ch, y) in out.output.iter().enumerate() {
                let (peak_index, peak) =
                    y.iter().enumerate().fold((0, 0.0f32), |(bi, bv), (i, &v)| {
                        if v.abs() > bv { (i, v.abs()) } else { (bi, bv) }
                    });
                if peak < 0.05 {
                    return Err(format!(
                        "{fs} Hz: impulse response peak only {peak} on channel {ch}"
                    ));
                }
                if peak_index != at + latency {
                    return Err(format!(
                        "{fs} Hz: reports {latency} samples of latency, impulse peak delayed by {} on channel {ch}",
                        peak_index as i64 - at as i64
                    ));
                }
            }
            report.push(latency);
        }
        // A latency change must come with `latency.changed` (the host restarts when told).
        let distinct: BTreeSet<usize> = report.iter().copied().collect();
        if distinct.len() > 1 && plugin.latency_changed_count() == 0 {
            return Err(format!(
                "latency varies with the rate ({report:?}) but latency.changed was never called"
            ));
        }
        Ok(())
    });
}

#[test]
fn random_automation_of_every_parameter_never_produces_non_finite_output() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        let params: Vec<ParamInfo> = plugin
            .params()
            .into_iter()
            .filter(|p| !p.read_only)
            .collect();
        let has_sidechain = plugin.audio_ports(true).len() > 1;
        for (k, &fs) in [48_000.0, 192_000.0].iter().enumerate() {
            let input = signal(2, fs, 1.0, 50 + k as u64);
            let len = input[0].len();
            let mut rng = Rng::new(500 + k as u64);
            let mut events: Vec<ParamChange> = (0..400)
                .map(|_| {
                    let p = &params[rng.range(0, params.len() - 1)];
                    ParamChange {
                        sample: rng.range(0, len - 1),
                        id: p.id,
                        value: random_value(p, &mut rng),
                    }
                })
                .collect();
            events.sort_by_key(|c| c.sample);
            let sidechain = signal(2, fs, 1.0, 60 + k as u64);
            plugin
                .activate(fs, 1, MAX_BLOCK)
                .map_err(|x| x.to_string())?;
            let mut run =
                Run::new(&input, Blocks::random(90 + k as u64, 1, 2048, 1000)).with_events(&events);
            if has_sidechain {
                run = run.with_sidechain(&sidechain);
            }
            let out = plugin.process(&run).map_err(|x| x.to_string())?;
            check_finite(&format!("{fs} Hz with random automation"), &out)?;
        }
        Ok(())
    });
}

#[test]
fn restart_requested_by_the_plugin_reactivates_it_with_the_same_configuration() {
    for_each_plugin(|e| {
        let mut plugin = e.instantiate();
        plugin
            .activate(96_000.0, 1, 1024)
            .map_err(|x| x.to_string())?;
        let before = plugin.restarts();
        // nice-plug asks the host to restart when the render mode changes while active.
        plugin
            .set_offline_rendering(true)
            .map_err(|x| x.to_string())?;
        if plugin.restarts() != before + 1 {
            return Err(format!(
                "render mode change while active: {} restarts, expected {}",
                plugin.restarts(),
                before + 1
            ));
        }
        if plugin.active_config() != Some((96_000.0, 1, 1024)) {
            return Err(format!("after the restart: {:?}", plugin.active_config()));
        }
        let input = signal(2, 96_000.0, 0.25, 70);
        let out = plugin
            .process(&Run::new(&input, Blocks::Fixed(1024)))
            .map_err(|x| x.to_string())?;
        check_finite("after a restart", &out)?;
        if rms(&out.output[0]) < 1e-3 {
            return Err("silent after a restart".into());
        }
        Ok(())
    });
}

#[test]
fn parameter_changes_at_sample_0_and_their_smoothing_are_block_size_invariant() {
    // Every parameter except bypass jumps to a random value at sample 0, so smoothers move
    // during the first blocks; the output must still not depend on how the host splits it.
    // (Events only at sample 0: nice-plug applies an event at the start of the block that holds
    // it unless a plugin sets SAMPLE_ACCURATE_AUTOMATION, so later offsets would legitimately
    // move with the split.)
    for_each_plugin(|e| {
        let fs = 48_000.0;
        let mut plugin = e.instantiate();
        let params = plugin.params();
        let settings = random_settings(&params, 2024);
        // Values persist across activations, so each run first goes back to the defaults.
        let defaults: Vec<(u32, f64)> = params.iter().map(|p| (p.id, p.default)).collect();
        let events: Vec<ParamChange> = settings
            .iter()
            .map(|&(id, value)| ParamChange {
                sample: 0,
                id,
                value,
            })
            .collect();
        let input = signal(2, fs, 1.0, 80);
        let mut run_with = |blocks: Blocks| -> Result<Processed, String> {
            plugin.deactivate();
            plugin.flush_params(&defaults).map_err(|x| x.to_string())?;
            plugin
                .activate(fs, 1, MAX_BLOCK)
                .map_err(|x| x.to_string())?;
            plugin
                .process(&Run::new(&input, blocks).with_events(&events))
                .map_err(|x| x.to_string())
        };
        let reference = run_with(Blocks::Fixed(512))?;
        check_finite("blocks of 512", &reference)?;
        let mut problems = Vec::new();
        let mut plans: Vec<(String, Blocks)> = [1, 17, 64, 4096]
            .iter()
            .map(|&b| (format!("blocks of {b}"), Blocks::Fixed(b)))
            .collect();
        plans.push((
            "random blocks of 1..=1000".into(),
            Blocks::random(81, 1, 1000, 4000),
        ));
        for (label, blocks) in plans {
            let out = run_with(blocks)?;
            check_finite(&label, &out)?;
            let (d, ch, i) = max_diff(&out.output, &reference.output);
            if d > 1e-6 {
                problems.push(format!(
                    "{label}: output[{ch}][{i}] differs from the 512-block run by {d}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    });
}
