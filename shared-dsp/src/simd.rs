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
