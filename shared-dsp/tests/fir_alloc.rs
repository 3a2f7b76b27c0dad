//! Real-time safety: designing into preallocated scratch, preparing and swapping kernels, and
//! processing at any block size allocate nothing. A counting global allocator (per thread, so
//! parallel tests do not interfere) is the oracle.

use shared_dsp::fir::{DesignScratch, PartitionedConvolver, Resolution, design_linear_phase};

use shared_dsp::testing::{Counting, allocations_in};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn design_prepare_swap_and_process_do_not_allocate() {
    let fs = 48_000.0;
    let max_taps = Resolution::High.taps(96_000.0);
    let mut scratch = DesignScratch::new(max_taps);
    let mut kernel = vec![0.0f32; max_taps];
    let mut conv = PartitionedConvolver::new(2, max_taps, 512);
    let mut spectrum = conv.new_kernel_spectrum();
    let mut l = vec![0.25f32; 4096];
    let mut r = vec![-0.25f32; 4096];
    let n = allocations_in(|| {
        for res in Resolution::ALL.into_iter().take(3) {
            let taps = res.taps(fs);
            design_linear_phase(
                |f| 1.0 + 1.0 / (1.0 + f / 100.0),
                taps,
                fs,
                &mut kernel,
                &mut scratch,
            );
            conv.prepare_kernel(&kernel[..taps], &mut spectrum);
            conv.swap_kernel(&mut spectrum);
            for size in [1, 17, 64, 4096, 333] {
                conv.process(&mut [&mut l[..size], &mut r[..size]]);
            }
            conv.set_kernel(&kernel[..taps]);
            conv.process(&mut [&mut l[..], &mut r[..]]);
        }
        conv.reset();
    });
    assert_eq!(n, 0, "{n} allocations on the real-time path");
}
