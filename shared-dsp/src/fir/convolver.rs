//! Uniformly partitioned FFT convolution (overlap-save with a frequency-domain delay line).
//!
//! The kernel is cut into `P` partitions of `B` taps (the *partition size*), each transformed once
//! (zero-padded to `2B`) into a [`KernelSpectrum`]. Every `B` input samples the convolver
//! transforms the last `2B` input samples, stores the spectrum in a ring of the last `P` input
//! spectra (the frequency-domain delay line), multiplies-and-accumulates it against the kernel
//! partitions and transforms back: cost per sample is two FFTs of `2B` points and `P` complex
//! multiply-adds per bin, per `B` samples.
//!
//! # Latency
//! Input is collected into blocks of `B` samples whatever the host block size (1, 17, 4096, ...),
//! and each computed block is played during the next `B` samples, so the convolver adds exactly
//! `B` samples of buffering latency. For a linear-phase kernel of `taps` taps the total latency is
//! `(taps - 1) / 2 + B`; [`PartitionedConvolver::latency`] reports the buffering part and
//! [`PartitionedConvolver::total_latency`] the sum for a given kernel latency.
//!
//! # Partition size
//! NOTE: `B` trades latency for throughput: FFT work per sample grows with `log2(2B)`, the
//! multiply-add work with `taps / B`. For the medium mode (10 241 taps at 48 kHz), see
//! [`RECOMMENDED_PARTITION`] and the `fir_bench` figures in the module tests.
//!
//! # Kernel swaps
//! A new kernel is transformed into a [`KernelSpectrum`] off the audio thread
//! ([`KernelSpectrum::prepare`]) and handed over with [`PartitionedConvolver::swap_kernel`],
//! which only swaps buffers. At the next block boundary the convolver computes that block with
//! both the old and the new kernel from the same delay line (the delay line holds input spectra,
//! which do not depend on the kernel, so the new kernel's output is immediately its steady-state
//! output) and crossfades between them with a raised cosine over the `B` samples of that block.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Partition size recommended for the linear-phase EQ.
///
/// NOTE: measured with `fir_bench` (`cargo test --release -p shared-dsp --test fir_bench --
/// --ignored --nocapture`): stereo, medium kernel (10 241 taps at 48 kHz), thread CPU time, best
/// of 5, on a shared 2-core AVX-512 machine, beside a bare 8192-tap overlap-save reference
/// (one 16 384-point FFT pair per 8192 samples) that ran at ~2560x in the same run:
///
/// | B    | x realtime (host 64 / 1024) | vs reference | added latency |
/// |------|-----------------------------|--------------|---------------|
/// | 256  | 1230 / 1238                 | 0.48         | 256           |
/// | 512  | 1773 / 1813                 | 0.69-0.71    | 512           |
/// | 1024 | 2149 / 2141                 | 0.84         | 1024          |
/// | 2048 | 2438 / 2489                 | 0.95-0.97    | 2048          |
/// | 4096 | 2552 / 2570                 | 1.00         | 4096          |
///
/// The FFT pair per partition dominates below 1024 (each partition size pays two FFTs of `2B`
/// points per `B` samples, whatever the kernel length). 1024 gives ~20 % more throughput than
/// 512; the linear-phase EQ shortens its kernels by the same amount (see `Resolution`), so its
/// total latencies are 3072 / 6144 / 24 576 / 49 152 samples at 48 kHz.
pub const RECOMMENDED_PARTITION: usize = 1024;

/// A kernel transformed into the partitioned frequency-domain form a [`PartitionedConvolver`]
/// uses. Build one per background worker with [`PartitionedConvolver::new_kernel_spectrum`],
/// fill it with [`KernelSpectrum::prepare`] (allocation-free, safe to run on any thread) and hand
/// it to [`PartitionedConvolver::swap_kernel`].
pub struct KernelSpectrum {
    /// Partition size `B`.
    block: usize,
    /// Capacity in partitions.
    max_partitions: usize,
    /// Partitions in use for the current kernel (`ceil(taps / B)`, at least 1).
    partitions: usize,
    /// Kernel length in taps.
    taps: usize,
    /// Partition spectra scaled by `1 / 2B`, `[lane group][partition]`
    /// (`groups(B + 1) * max_partitions`).
    data: Vec<Lanes>,
    /// Forward FFT of `2B` points.
    fwd: Arc<dyn RealToComplex<f32>>,
    /// Time-domain work buffer, `2B`.
    time: Vec<f32>,
    /// Spectrum work buffer, `B + 1`.
    spec: Vec<Complex<f32>>,
    /// FFT scratch.
    scratch: Vec<Complex<f32>>,
}

impl std::fmt::Debug for KernelSpectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelSpectrum")
            .field("block", &self.block)
            .field("max_partitions", &self.max_partitions)
            .field("partitions", &self.partitions)
            .field("taps", &self.taps)
            .finish()
    }
}

impl KernelSpectrum {
    fn new(block: usize, max_partitions: usize, fwd: Arc<dyn RealToComplex<f32>>) -> Self {
        let bins = block + 1;
        let scratch = vec![Complex::new(0.0, 0.0); fwd.get_scratch_len()];
        let mut k = Self {
            block,
            max_partitions,
            partitions: 1,
            taps: 1,
            data: vec![Lanes::default(); groups(bins) * max_partitions],
            fwd,
            time: vec![0.0; 2 * block],
            spec: vec![Complex::new(0.0, 0.0); bins],
            scratch,
        };
        // Default kernel: a unit impulse at tap 0 (identity, no delay beyond the buffering).
        k.prepare(&[1.0]);
        k
    }

    /// Transforms `taps` (time domain, any length up to the convolver's `max_kernel_len`) into
    /// this spectrum. Allocation-free; meant to run on a background thread.
    ///
    /// # Panics
    /// If `taps` is empty or longer than the capacity this spectrum was built for.
    pub fn prepare(&mut self, taps: &[f32]) {
        let b = self.block;
        assert!(!taps.is_empty(), "kernel must have at least one tap");
        let partitions = taps.len().div_ceil(b);
        assert!(
            partitions <= self.max_partitions,
            "kernel of {} taps exceeds capacity {}",
            taps.len(),
            self.max_partitions * b
        );
        let scale = 1.0 / (2 * b) as f32;
        for (p, chunk) in taps.chunks(b).enumerate() {
            self.time.fill(0.0);
            for (t, &h) in self.time.iter_mut().zip(chunk) {
                // NaN/inf taps would poison every output sample: treat them as silence.
                *t = if h.is_finite() { h } else { 0.0 };
            }
            self.fwd
                .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch)
                .expect("buffer sizes match the plan");
            scatter(&self.spec, &mut self.data, self.max_partitions, p, scale);
        }
        self.partitions = partitions;
        self.taps = taps.len();
    }

    /// Kernel length (taps) last prepared.
    pub fn taps(&self) -> usize {
        self.taps
    }
}

/// Per-channel state of the convolver.
struct ChannelState {
    /// Overlap-save input window: previous block then the block being collected, `2B`.
    input: Vec<f32>,
    /// Frequency-domain delay line: ring of `max_partitions` input spectra,
    /// `[lane group][slot]`.
    fdl: Vec<Lanes>,
    /// Output block being played, `B`.
    output: Vec<f32>,
}

/// Uniformly partitioned overlap-save FFT convolver, any host block size, fixed latency.
///
/// All channels share one kernel (for different kernels per channel, use one convolver per
/// channel). See the [module docs](self) for latency, partition size and kernel swaps.
///
/// ```
/// use shared_dsp::fir::{PartitionedConvolver, convolver::RECOMMENDED_PARTITION};
/// let mut conv = PartitionedConvolver::new(2, 12_001, RECOMMENDED_PARTITION);
/// let mut kernel = vec![0.0f32; 12_001];
/// kernel[6000] = 1.0; // identity delayed by 6000 samples
/// conv.set_kernel(&kernel);
/// let (mut l, mut r) = (vec![0.1f32; 64], vec![0.2f32; 64]);
/// conv.process(&mut [&mut l[..], &mut r[..]]);
/// assert_eq!(conv.total_latency(6000), 6000 + RECOMMENDED_PARTITION);
/// ```
pub struct PartitionedConvolver {
    /// Partition size `B`.
    block: usize,
    /// Capacity in partitions (`ceil(max_kernel_len / B)`).
    max_partitions: usize,
    /// Forward FFT of `2B` points.
    fwd: Arc<dyn RealToComplex<f32>>,
    /// Inverse FFT of `2B` points.
    inv: Arc<dyn ComplexToReal<f32>>,
    /// Kernel in use.
    active: KernelSpectrum,
    /// Kernel waiting to be swapped in (if `pending_ready`), else the previous kernel.
    pending: KernelSpectrum,
    /// A new kernel waits in `pending`.
    pending_ready: bool,
    /// No block has been computed since construction or `reset` (a kernel swap then needs no
    /// crossfade: nothing has been played with the old kernel).
    fresh: bool,
    /// Per-channel input windows, delay lines and output blocks.
    channels: Vec<ChannelState>,
    /// Samples collected in the current block (shared by all channels).
    fill: usize,
    /// Delay-line slot written by the next block.
    head: usize,
    /// Multiply-add accumulator, `groups(B + 1)` lane groups.
    acc: Vec<Lanes>,
    /// Interleaved spectrum for the FFTs, `B + 1`.
    spec: Vec<Complex<f32>>,
    /// Time-domain work buffer, `2B`.
    time: Vec<f32>,
    /// Old kernel's output block during a crossfade, `B`.
    old_out: Vec<f32>,
    /// Crossfade ramp (raised cosine from 0 to 1), `B`.
    fade: Vec<f32>,
    /// FFT scratch (max of forward and inverse).
    scratch: Vec<Complex<f32>>,
    /// Instruction set the block computation is compiled for (detected once, in `new`).
    isa: Isa,
}

/// Instruction set of a [`PartitionedConvolver`]'s block computation.
///
/// NOTE: the whole block (input copy, spectrum scatter, multiply-add, interleave, crossfade) runs
/// in one `target_feature` instance, not just the multiply-add: compiled for baseline x86-64, the
/// (de)interleaving loops around the FFTs cost about half as much as the multiply-add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// Baseline (SSE2 on x86-64, or any other architecture): separate multiply and add.
    Portable,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 (F, VL, DQ) besides AVX2 + FMA: the same arithmetic as `Avx2` on 512-bit vectors.
    Avx512,
}

impl Isa {
    fn detect() -> Self {
        if crate::simd::avx512() {
            Isa::Avx512
        } else if crate::simd::avx2_fma() {
            Isa::Avx2
        } else {
            Isa::Portable
        }
    }
}

impl std::fmt::Debug for PartitionedConvolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedConvolver")
            .field("block", &self.block)
            .field("max_partitions", &self.max_partitions)
            .field("channels", &self.channels.len())
            .field("kernel", &self.active)
            .finish()
    }
}

impl PartitionedConvolver {
    /// A convolver for up to `max_channels` channels and kernels of up to `max_kernel_len` taps,
    /// with partition size `partition_size` (`B`, see [`RECOMMENDED_PARTITION`]). Allocates
    /// everything; the initial kernel is the identity (a unit impulse at tap 0).
    ///
    /// # Panics
    /// If any argument is zero.
    pub fn new(max_channels: usize, max_kernel_len: usize, partition_size: usize) -> Self {
        assert!(max_channels > 0 && max_kernel_len > 0 && partition_size > 0);
        let b = partition_size;
        let bins = b + 1;
        let max_partitions = max_kernel_len.div_ceil(b);
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(2 * b);
        let inv = planner.plan_fft_inverse(2 * b);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        let channels = (0..max_channels)
            .map(|_| ChannelState {
                input: vec![0.0; 2 * b],
                fdl: vec![Lanes::default(); groups(bins) * max_partitions],
                output: vec![0.0; b],
            })
            .collect();
        let fade = (0..b)
            .map(|i| {
                let x = (i as f64 + 0.5) / b as f64;
                (0.5 - 0.5 * (std::f64::consts::PI * x).cos()) as f32
            })
            .collect();
        Self {
            block: b,
            max_partitions,
            active: KernelSpectrum::new(b, max_partitions, fwd.clone()),
            pending: KernelSpectrum::new(b, max_partitions, fwd.clone()),
            pending_ready: false,
            fresh: true,
            fwd,
            inv,
            channels,
            fill: 0,
            head: 0,
            acc: vec![Lanes::default(); groups(bins)],
            spec: vec![Complex::new(0.0, 0.0); bins],
            time: vec![0.0; 2 * b],
            old_out: vec![0.0; b],
            fade,
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            isa: Isa::detect(),
        }
    }

    /// Partition size `B`.
    pub fn partition_size(&self) -> usize {
        self.block
    }

    /// Longest kernel accepted.
    pub fn max_kernel_len(&self) -> usize {
        self.max_partitions * self.block
    }

    /// Latency added by the convolver itself: exactly the partition size `B`, independent of the
    /// host block size. The kernel's own delay comes on top (see [`Self::total_latency`]).
    pub fn latency(&self) -> usize {
        self.block
    }

    /// Total latency for a kernel whose impulse response is centred on `kernel_latency`
    /// (`(taps - 1) / 2` for a linear-phase kernel): `kernel_latency + B`.
    pub fn total_latency(&self, kernel_latency: usize) -> usize {
        kernel_latency + self.block
    }

    /// A [`KernelSpectrum`] compatible with this convolver (allocates: build it off the audio
    /// thread, once per worker, and reuse it).
    pub fn new_kernel_spectrum(&self) -> KernelSpectrum {
        KernelSpectrum::new(self.block, self.max_partitions, self.fwd.clone())
    }

    /// Transforms `taps` into `out` (same as [`KernelSpectrum::prepare`]; kept on the convolver
    /// for discoverability). Allocation-free.
    ///
    /// # Panics
    /// If `out` was built for another convolver geometry, or `taps` is empty or too long.
    pub fn prepare_kernel(&self, taps: &[f32], out: &mut KernelSpectrum) {
        assert!(
            out.block == self.block && out.max_partitions == self.max_partitions,
            "KernelSpectrum built for another convolver"
        );
        out.prepare(taps);
    }

    /// Hands a prepared kernel to the convolver; it takes effect at the next block boundary with a
    /// crossfade over one block. Only swaps buffers (no allocation, no FFT). `kernel` receives the
    /// spectrum that was in the pending slot (the kernel before last, or an unused pending one), so
    /// the caller can reuse it for the next design.
    ///
    /// # Panics
    /// If `kernel` was built for another convolver geometry.
    pub fn swap_kernel(&mut self, kernel: &mut KernelSpectrum) {
        assert!(
            kernel.block == self.block && kernel.max_partitions == self.max_partitions,
            "KernelSpectrum built for another convolver"
        );
        std::mem::swap(&mut self.pending, kernel);
        self.pending_ready = true;
    }

    /// Transforms `taps` into the pending slot on the calling thread and schedules it like
    /// [`Self::swap_kernel`]. Allocation-free but costs `ceil(taps / B)` FFTs: prefer
    /// [`Self::prepare_kernel`] on a background thread plus [`Self::swap_kernel`] in `process`.
    ///
    /// # Panics
    /// If `taps` is empty or longer than [`Self::max_kernel_len`].
    pub fn set_kernel(&mut self, taps: &[f32]) {
        self.pending.prepare(taps);
        self.pending_ready = true;
    }

    /// A crossfade to a new kernel is scheduled and has not started yet.
    pub fn swap_pending(&self) -> bool {
        self.pending_ready
    }

    /// Clears all audio state (input, delay line, output). A pending kernel is applied at once,
    /// without crossfade (as is a kernel set before the first block after `new`/`reset`).
    /// Allocation-free.
    pub fn reset(&mut self) {
        for ch in &mut self.channels {
            ch.input.fill(0.0);
            ch.fdl.fill(Lanes::default());
            ch.output.fill(0.0);
        }
        self.fill = 0;
        self.head = 0;
        self.fresh = true;
        if self.pending_ready {
            std::mem::swap(&mut self.active, &mut self.pending);
            self.pending_ready = false;
        }
    }

    /// Convolves `buffers` in place (one slice per channel, all the same length, any length).
    /// Output is delayed by [`Self::latency`] plus the kernel's own delay. Allocation-free.
    ///
    /// Call it with the same number of channels every time (the block position is shared).
    /// Non-finite input samples are treated as 0 so they never reach the delay line; samples
    /// below [`crate::util::DENORMAL_THRESHOLD`] are flushed to 0.
    ///
    /// # Panics
    /// If there are more buffers than `max_channels` or their lengths differ.
    pub fn process(&mut self, buffers: &mut [&mut [f32]]) {
        match self.isa {
            // SAFETY: `isa` is `Avx512` / `Avx2` only if `Isa::detect` found those features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { self.process_avx512(buffers) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { self.process_avx2(buffers) },
            _ => self.process_body::<false>(buffers),
        }
    }

    /// [`Self::process_body`] compiled for AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2(&mut self, buffers: &mut [&mut [f32]]) {
        self.process_body::<true>(buffers);
    }

    /// [`Self::process_body`] compiled for AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
    unsafe fn process_avx512(&mut self, buffers: &mut [&mut [f32]]) {
        self.process_body::<true>(buffers);
    }

    /// [`Self::process`]; `FMA` fuses the multiply-adds.
    #[inline(always)]
    fn process_body<const FMA: bool>(&mut self, buffers: &mut [&mut [f32]]) {
        let nch = buffers.len();
        assert!(
            nch <= self.channels.len(),
            "{nch} channels > max {}",
            self.channels.len()
        );
        let Some(len) = buffers.first().map(|b| b.len()) else {
            return;
        };
        assert!(
            buffers.iter().all(|b| b.len() == len),
            "channel buffers differ in length"
        );
        let b = self.block;
        let mut pos = 0;
        while pos < len {
            let n = (b - self.fill).min(len - pos);
            for (buf, ch) in buffers.iter_mut().zip(&mut self.channels) {
                let seg = &mut buf[pos..pos + n];
                let inp = &mut ch.input[b + self.fill..b + self.fill + n];
                let out = &ch.output[self.fill..self.fill + n];
                for ((x, i), &o) in seg.iter_mut().zip(inp.iter_mut()).zip(out) {
                    // NOTE: tiny inputs are flushed so the delay line never holds denormals,
                    // which would slow the multiply-add by 10-100x on x86.
                    *i = if x.is_finite() {
                        crate::util::flush_denormal_f32(*x)
                    } else {
                        0.0
                    };
                    *x = o;
                }
            }
            self.fill += n;
            pos += n;
            if self.fill == b {
                self.compute_block::<FMA>(nch);
                self.fill = 0;
            }
        }
    }

    /// Convolves a stereo pair in place: `process(&mut [left, right])`.
    ///
    /// # Panics
    /// If `max_channels < 2` or the slices differ in length.
    pub fn process_stereo(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.process(&mut [left, right]);
    }

    /// One partition step for the first `nch` channels: FFT, delay line, multiply-add, IFFT.
    #[inline(always)]
    fn compute_block<const FMA: bool>(&mut self, nch: usize) {
        let b = self.block;
        let swap = self.pending_ready;
        if swap {
            std::mem::swap(&mut self.active, &mut self.pending);
            self.pending_ready = false;
        }
        let crossfade = swap && !self.fresh;
        self.fresh = false;
        let slot = self.head;
        for ch in self.channels.iter_mut().take(nch) {
            self.time.copy_from_slice(&ch.input);
            self.fwd
                .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch)
                .expect("buffer sizes match the plan");
            scatter(&self.spec, &mut ch.fdl, self.max_partitions, slot, 1.0);
            if crossfade {
                // The old kernel's output for this block, from the same delay line.
                accumulate::<FMA>(
                    &self.pending,
                    &ch.fdl,
                    slot,
                    self.max_partitions,
                    &mut self.acc,
                );
                inverse(
                    &*self.inv,
                    &self.acc,
                    &mut self.spec,
                    &mut self.time,
                    &mut self.scratch,
                );
                self.old_out.copy_from_slice(&self.time[b..]);
            }
            accumulate::<FMA>(
                &self.active,
                &ch.fdl,
                slot,
                self.max_partitions,
                &mut self.acc,
            );
            inverse(
                &*self.inv,
                &self.acc,
                &mut self.spec,
                &mut self.time,
                &mut self.scratch,
            );
            if crossfade {
                for (((o, &new), &old), &g) in ch
                    .output
                    .iter_mut()
                    .zip(&self.time[b..])
                    .zip(&self.old_out)
                    .zip(&self.fade)
                {
                    *o = old + g * (new - old);
                }
            } else {
                ch.output.copy_from_slice(&self.time[b..]);
            }
            ch.input.copy_within(b.., 0);
        }
        self.head = (self.head + 1) % self.max_partitions;
    }
}

/// Bins per lane group of the split-complex layout (two AVX registers of `f32`).
const LANES: usize = 16;

/// `LANES` consecutive bins in split real/imaginary form, aligned for vector loads.
///
/// NOTE: kernel partitions and the delay line are stored bin-group-major
/// (`[group][partition]`): the multiply-add then walks all partitions of one bin group with the
/// accumulators in registers, reading each kernel/input value once and writing the sum once.
/// With a partition-major layout the accumulator was loaded and stored for every partition,
/// which made the multiply-add memory bound.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Lanes {
    /// Real parts.
    re: [f32; LANES],
    /// Imaginary parts.
    im: [f32; LANES],
}

/// Number of lane groups for `bins` bins.
fn groups(bins: usize) -> usize {
    bins.div_ceil(LANES)
}

/// Scatters an interleaved spectrum into column `col` of a `[group][ring]` lane array.
// NOTE: whole groups as fixed-size arrays, so the (de)interleaving compiles to vector shuffles
// instead of a scalar store per value; only the last, partial group (bin `B`) is a loop.
#[inline(always)]
fn scatter(spec: &[Complex<f32>], dst: &mut [Lanes], ring: usize, col: usize, scale: f32) {
    let (whole, rest) = spec.as_chunks::<LANES>();
    for (g, chunk) in whole.iter().enumerate() {
        dst[g * ring + col] = Lanes {
            re: std::array::from_fn(|i| chunk[i].re * scale),
            im: std::array::from_fn(|i| chunk[i].im * scale),
        };
    }
    if !rest.is_empty() {
        let lanes = &mut dst[whole.len() * ring + col];
        *lanes = Lanes::default();
        for (i, c) in rest.iter().enumerate() {
            lanes.re[i] = c.re * scale;
            lanes.im[i] = c.im * scale;
        }
    }
}

/// Interleaves a lane array (one column) into a spectrum: the inverse of [`scatter`].
#[inline(always)]
fn gather(src: &[Lanes], spec: &mut [Complex<f32>]) {
    let (whole, rest) = spec.as_chunks_mut::<LANES>();
    for (chunk, lanes) in whole.iter_mut().zip(src) {
        // NOTE: built as one array and stored whole, so that it compiles to vector shuffles
        // (element-wise stores stayed scalar).
        *chunk = std::array::from_fn(|i| Complex::new(lanes.re[i], lanes.im[i]));
    }
    if let Some(lanes) = src.get(whole.len()) {
        for (i, c) in rest.iter_mut().enumerate() {
            *c = Complex::new(lanes.re[i], lanes.im[i]);
        }
    }
}

/// `acc = sum_p X[slot - p] * H[p]` over all lane groups (`X` a ring of `ring` spectra);
/// `FMA` fuses the multiply-adds.
#[inline(always)]
fn accumulate<const FMA: bool>(
    kernel: &KernelSpectrum,
    fdl: &[Lanes],
    slot: usize,
    ring: usize,
    acc: &mut [Lanes],
) {
    let parts = kernel.partitions;
    let kring = kernel.max_partitions;
    for (g, out) in acc.iter_mut().enumerate() {
        let xs = &fdl[g * ring..(g + 1) * ring];
        let hs = &kernel.data[g * kring..g * kring + parts];
        // Four independent accumulators: re = a_rr - a_ii, im = a_ri + a_ir.
        let mut rr = [0.0f32; LANES];
        let mut ii = [0.0f32; LANES];
        let mut ri = [0.0f32; LANES];
        let mut ir = [0.0f32; LANES];
        // Partition p reads slot - p (mod ring): first the slots down to 0, then wrap around.
        let direct = parts.min(slot + 1);
        for (h, x) in hs[..direct].iter().zip(xs[..=slot].iter().rev()) {
            lane_step::<FMA>(&mut rr, &mut ii, &mut ri, &mut ir, x, h);
        }
        for (h, x) in hs[direct..].iter().zip(xs.iter().rev()) {
            lane_step::<FMA>(&mut rr, &mut ii, &mut ri, &mut ir, x, h);
        }
        for i in 0..LANES {
            out.re[i] = rr[i] - ii[i];
            out.im[i] = ri[i] + ir[i];
        }
    }
}

/// One partition of [`accumulate`] for one lane group.
// NOTE: a function rather than a closure: `#[inline(always)]` guarantees it is inlined into the
// `target_feature` caller, so `mul_add` becomes an FMA instruction instead of a libm call (a
// closure that is not inlined runs ~30x slower that way).
#[inline(always)]
fn lane_step<const FMA: bool>(
    rr: &mut [f32; LANES],
    ii: &mut [f32; LANES],
    ri: &mut [f32; LANES],
    ir: &mut [f32; LANES],
    x: &Lanes,
    h: &Lanes,
) {
    for i in 0..LANES {
        rr[i] = crate::simd::madd::<FMA>(x.re[i], h.re[i], rr[i]);
        ii[i] = crate::simd::madd::<FMA>(x.im[i], h.im[i], ii[i]);
        ri[i] = crate::simd::madd::<FMA>(x.re[i], h.im[i], ri[i]);
        ir[i] = crate::simd::madd::<FMA>(x.im[i], h.re[i], ir[i]);
    }
}

/// Inverse FFT of the lane-group accumulator into `time` (`2B`).
#[inline(always)]
fn inverse(
    inv: &dyn ComplexToReal<f32>,
    acc: &[Lanes],
    spec: &mut [Complex<f32>],
    time: &mut [f32],
    scratch: &mut [Complex<f32>],
) {
    gather(acc, spec);
    // The DC and Nyquist bins of a real signal's spectrum are real; rounding can leave a tiny
    // imaginary part that realfft rejects.
    spec[0].im = 0.0;
    let last = spec.len() - 1;
    spec[last].im = 0.0;
    inv.process_with_scratch(spec, time, scratch)
        .expect("buffer sizes match the plan");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Rng;

    /// Every instance the machine runs (portable, AVX2 + FMA, AVX-512) gives the same output
    /// within rounding (the test machine normally takes a SIMD instance, so this is what keeps
    /// the portable fallback honest), through kernel swaps, odd host blocks and the ring's
    /// wrap-around. AVX2 and AVX-512 do the same arithmetic, so they agree bit for bit.
    #[test]
    fn every_instruction_set_gives_the_same_output() {
        let mut rng = Rng::new(3);
        let kernels: Vec<Vec<f32>> = [300, 170]
            .iter()
            .map(|&n| (0..n).map(|_| rng.bipolar() as f32).collect())
            .collect();
        let input: Vec<f32> = (0..64 * 23).map(|_| rng.bipolar() as f32).collect();
        let run = |isa: Isa| {
            let mut conv = PartitionedConvolver::new(2, 5 * 64, 64);
            conv.isa = isa;
            conv.set_kernel(&kernels[0]);
            let (mut l, mut r) = (
                input.clone(),
                input.iter().map(|v| -0.5 * v).collect::<Vec<_>>(),
            );
            for (k, (a, b)) in l.chunks_mut(37).zip(r.chunks_mut(37)).enumerate() {
                if k == 20 {
                    conv.set_kernel(&kernels[1]);
                }
                conv.process(&mut [a, b]);
            }
            [l, r]
        };
        let portable = run(Isa::Portable);
        assert!(portable[0].iter().any(|v| v.abs() > 0.1), "silent output");
        let mut isas = vec![];
        if crate::simd::avx2_fma() {
            isas.push(Isa::Avx2);
        }
        if crate::simd::avx512() {
            isas.push(Isa::Avx512);
        }
        let simd: Vec<_> = isas.iter().map(|&isa| run(isa)).collect();
        for out in &simd {
            for (a, b) in portable.iter().flatten().zip(out.iter().flatten()) {
                assert!((a - b).abs() < 1e-5, "{a} against {b}");
            }
        }
        if let [avx2, avx512] = &simd[..] {
            assert_eq!(avx2, avx512, "AVX2 and AVX-512 differ");
        }
    }

    /// Swapping in a kernel of another length (longer, then shorter) is exact after the
    /// crossfade block: stale partitions of a longer kernel must not leak into a shorter one.
    #[test]
    fn kernel_length_changes_are_exact() {
        let mut conv = PartitionedConvolver::new(1, 1000, 128);
        let mut long = vec![0.0f32; 1000];
        long[999] = 1.0;
        long[3] = 0.5;
        let mut short = vec![0.0f32; 10];
        short[3] = 0.5;
        conv.set_kernel(&long);
        let mut x = vec![0.0f32; 4000];
        conv.process(&mut [&mut x[..]]);
        conv.set_kernel(&short);
        let mut x = vec![0.0f32; 4000];
        x[1000] = 1.0;
        conv.process(&mut [&mut x[..]]);
        for (n, &v) in x.iter().enumerate() {
            let want = if n == 1000 + 128 + 3 { 0.5 } else { 0.0 };
            assert!((v - want).abs() < 1e-6, "n {n}: {v}");
        }
    }
}
