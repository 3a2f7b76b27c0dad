//! Run-time CPU dispatch shared by every unit with a fused (AVX2 + FMA) kernel.
//!
//! The pattern: the kernel body is an `#[inline(always)]` function generic over
//! `const FMA: bool` that uses [`madd`] / [`madd64`] for its multiply-adds; a thin
//! `#[target_feature(enable = "avx2,fma")]` wrapper instantiates it with `FMA = true`, and the
//! caller picks the wrapper when [`avx2_fma`] says the CPU has the features. Inlined into the
//! wrapper, `mul_add` becomes one FMA instruction and the auto-vectoriser uses 256-bit
//! registers; the `FMA = false` instance is portable (baseline x86-64, aarch64).
//!
//! NOTE: an FMA rounds once where `a * b + c` rounds twice, so the two instances can differ in
//! the last bit. Every result is deterministic on a given machine (block-size invariance holds).

/// Whether the CPU runs the fused kernels (AVX2 and FMA; detected once, then cached by std).
#[inline]
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU runs the AVX-512 kernels (AVX-512 F, VL and DQ besides AVX2 and FMA).
///
/// NOTE: the AVX-512 instances compute the same per-lane arithmetic as the AVX2 + FMA ones
/// (only the vectors are wider), so they give the same results.
///
/// Setting the environment variable `POSTMIX_NO_AVX512` (read once) turns them off, so that
/// benchmarks and tests can compare both instances on one machine.
#[inline]
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| {
            avx2_fma()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::env::var_os("POSTMIX_NO_AVX512").is_none()
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `a * b + c`, as one fused instruction in the `FMA = true` instance.
///
/// Only instantiate `FMA = true` inside a function compiled with `target_feature = "fma"`:
/// elsewhere `mul_add` is a slow library call.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// [`madd`] in `f64`.
#[inline(always)]
pub fn madd64<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}
