//! Small helpers every unit shares: decibel conversion and the non-finite / denormal guard.

/// Converts decibels to linear gain. `-inf` dB gives 0.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db * 0.05)
}

/// Converts linear gain (or amplitude) to decibels. Zero gives `-inf`.
#[inline]
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * gain.abs().log10()
}

/// [`db_to_gain`] in `f64`.
#[inline]
pub fn db_to_gain_f64(db: f64) -> f64 {
    10f64.powf(db * 0.05)
}

/// [`gain_to_db`] in `f64`.
#[inline]
pub fn gain_to_db_f64(gain: f64) -> f64 {
    20.0 * gain.abs().log10()
}

/// Smallest magnitude kept in filter state; anything below is flushed to zero so that decaying
/// recursive filters never run into denormals (which cost 10-100x per operation on x86).
pub const DENORMAL_THRESHOLD: f64 = 1e-30;

/// Flushes a denormal-range `f64` state value to zero.
#[inline]
pub fn flush_denormal(x: f64) -> f64 {
    if x.abs() < DENORMAL_THRESHOLD { 0.0 } else { x }
}

/// Flushes a denormal-range `f32` state value to zero.
#[inline]
pub fn flush_denormal_f32(x: f32) -> f32 {
    if x.abs() < DENORMAL_THRESHOLD as f32 {
        0.0
    } else {
        x
    }
}

/// Replaces every NaN or infinite sample with 0 and every denormal with 0. Returns how many
/// non-finite samples were replaced, so callers can count them.
///
/// Run this on plugin input before any DSP: NaN/inf must never reach state or output.
#[inline]
pub fn sanitize(buf: &mut [f32]) -> usize {
    // NOTE: the common case (every sample normal or zero) is one read-only pass: an OR over
    // the samples' "exponent all ones, or zero exponent with a mantissa" flags, which
    // vectorises; only a block with something to replace is rewritten.
    let flag = |x: &f32| {
        let b = x.to_bits() & 0x7fff_ffff;
        let e = b & 0x7f80_0000;
        u32::from(e == 0x7f80_0000 || (e == 0 && b != 0))
    };
    if buf.iter().fold(0u32, |m, x| m | flag(x)) == 0 {
        return 0;
    }
    // NOTE: branch-free (a compare and a select per sample), so it vectorises; NaN fails both
    // comparisons.
    let mut bad = 0;
    for x in buf.iter_mut() {
        let a = x.abs();
        bad += usize::from(!a.is_finite());
        *x = if (f32::MIN_POSITIVE..=f32::MAX).contains(&a) {
            *x
        } else {
            0.0
        };
    }
    bad
}

/// Largest magnitude in `x` (0 for an empty slice). For NaN-free input (after [`sanitize`]).
///
/// NOTE: eight independent lanes with a plain comparison, so it compiles to `maxps` instead of
/// a serial `f32::max` chain (which cannot be vectorised because of its NaN rules).
#[inline]
pub fn peak_abs(x: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            let a = c[k].abs();
            m[k] = if a > m[k] { a } else { m[k] };
        }
    }
    // NOTE: plain comparisons here too (`f32::max` adds a NaN test per step).
    let mut r = 0.0f32;
    for v in it.remainder().iter().map(|v| v.abs()).chain(m) {
        r = if v > r { v } else { r };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trip() {
        for db in [-60.0f32, -6.0, 0.0, 6.0, 24.0] {
            assert!((gain_to_db(db_to_gain(db)) - db).abs() < 1e-4);
        }
        assert!((db_to_gain(-6.0206) - 0.5).abs() < 1e-5);
        assert_eq!(gain_to_db(0.0), f32::NEG_INFINITY);
    }

    #[test]
    fn sanitize_zeroes_and_counts_non_finite() {
        let mut b = [1.0, f32::NAN, f32::INFINITY, -f32::INFINITY, 1e-40, -0.5];
        assert_eq!(sanitize(&mut b), 3);
        assert_eq!(b, [1.0, 0.0, 0.0, 0.0, 0.0, -0.5]);
    }

    #[test]
    fn sanitize_flushes_a_lone_denormal_and_leaves_clean_blocks_alone() {
        // One denormal among normal samples (no NaN or inf): still flushed, counted as 0.
        let mut b = vec![0.5f32; 37];
        b[29] = f32::from_bits(1);
        b[3] = -0.25;
        assert_eq!(sanitize(&mut b), 0);
        assert_eq!(b[29].to_bits(), 0);
        assert_eq!(b[3], -0.25);
        // A clean block is unchanged bit for bit (negative zero included).
        let clean: Vec<f32> = (0..41)
            .map(|i| (i as f32 - 20.0) * 0.01)
            .chain([-0.0])
            .collect();
        let mut c = clean.clone();
        assert_eq!(sanitize(&mut c), 0);
        assert!(
            c.iter()
                .zip(&clean)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn flush_denormal_keeps_normal_values() {
        assert_eq!(flush_denormal(1e-35), 0.0);
        assert_eq!(flush_denormal(1e-3), 1e-3);
        assert_eq!(flush_denormal_f32(1e-38), 0.0);
    }
}
