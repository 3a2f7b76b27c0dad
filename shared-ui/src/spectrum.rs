//! Spectrum analyzer: a lock-free sample ring the audio thread writes, and the GUI-side FFT
//! analysis and drawing.
//!
//! The audio thread calls [`SampleRing::push_iter`] (atomics only: no lock, no allocation); the
//! editor calls [`SpectrumAnalyzer::update`] once per frame, which copies the newest samples out
//! of the ring, windows them (Hann), transforms them (radix-2 FFT, allocation-free after `new`)
//! and keeps a smoothed level per bin with a steady fall.

use egui::{Color32, Pos2, Rect, Shape, Stroke, pos2};
use std::f32::consts::PI;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// A ring of the most recent samples, written by one (audio) thread and read by another.
///
/// Not a queue: the reader takes a snapshot of the newest `n` samples whenever it likes, and the
/// writer never waits. A snapshot taken while the writer wraps over it may mix old and new
/// samples, which an analyzer does not mind.
#[derive(Debug)]
pub struct SampleRing {
    /// Samples as `f32` bits.
    data: Box<[AtomicU32]>,
    /// Total samples written (the next write goes to `written & mask`).
    written: AtomicUsize,
}

impl SampleRing {
    /// A ring of `capacity` samples (rounded up to a power of two).
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.max(2).next_power_of_two();
        Self {
            data: (0..cap).map(|_| AtomicU32::new(0)).collect(),
            written: AtomicUsize::new(0),
        }
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Appends samples. Real-time safe (relaxed atomic stores, one release store).
    pub fn push_iter(&self, samples: impl Iterator<Item = f32>) {
        let mask = self.data.len() - 1;
        let mut w = self.written.load(Ordering::Relaxed);
        for x in samples {
            self.data[w & mask].store(x.to_bits(), Ordering::Relaxed);
            w = w.wrapping_add(1);
        }
        self.written.store(w, Ordering::Release);
    }

    /// Total samples written so far.
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Acquire)
    }

    /// Copies the newest `out.len()` samples (oldest first) into `out`.
    ///
    /// # Panics
    /// If `out` is longer than the capacity.
    pub fn snapshot(&self, out: &mut [f32]) {
        assert!(out.len() <= self.data.len());
        let mask = self.data.len() - 1;
        let end = self.written.load(Ordering::Acquire);
        let start = end.wrapping_sub(out.len());
        for (i, o) in out.iter_mut().enumerate() {
            *o = f32::from_bits(self.data[start.wrapping_add(i) & mask].load(Ordering::Relaxed));
        }
    }
}

/// In-place iterative radix-2 complex FFT (forward), `re`/`im` of equal power-of-two length.
fn fft(re: &mut [f32], im: &mut [f32], twiddle: &[(f32, f32)]) {
    let n = re.len();
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let step = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (wr, wi) = twiddle[k * step];
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len *= 2;
    }
}

/// GUI-side analyzer of one [`SampleRing`].
#[derive(Debug, Clone)]
pub struct SpectrumAnalyzer {
    /// FFT size.
    size: usize,
    /// Hann window, with the gain normalisation folded in.
    window: Vec<f32>,
    /// Twiddle factors `exp(-2 pi i k / n)`, `n / 2`.
    twiddle: Vec<(f32, f32)>,
    /// Work buffers.
    re: Vec<f32>,
    /// Work buffers.
    im: Vec<f32>,
    /// Smoothed level per bin, dB (`size / 2 + 1`).
    level_db: Vec<f32>,
    /// Fall rate, dB per second.
    fall_db_per_s: f32,
}

impl SpectrumAnalyzer {
    /// An analyzer with an FFT of `size` points (a power of two, e.g. 4096).
    ///
    /// # Panics
    /// If `size` is not a power of two >= 16.
    pub fn new(size: usize) -> Self {
        assert!(size.is_power_of_two() && size >= 16);
        // A sine of amplitude 1 reads 0 dB: the Hann window's coherent gain is 1/2 and a real
        // sine puts half its amplitude at +f, so its bin holds n / 4: scale by 4 / n.
        let window = (0..size)
            .map(|i| {
                let w = 0.5 - 0.5 * (2.0 * PI * i as f32 / size as f32).cos();
                w * 4.0 / size as f32
            })
            .collect();
        let twiddle = (0..size / 2)
            .map(|k| {
                let a = -2.0 * PI * k as f32 / size as f32;
                (a.cos(), a.sin())
            })
            .collect();
        Self {
            size,
            window,
            twiddle,
            re: vec![0.0; size],
            im: vec![0.0; size],
            level_db: vec![-160.0; size / 2 + 1],
            fall_db_per_s: 30.0,
        }
    }

    /// Analyses the newest samples of `ring`; `dt` is the time since the last update (for the
    /// fall). Levels rise instantly and fall at 30 dB/s.
    pub fn update(&mut self, ring: &SampleRing, dt: f32) {
        let n = self.size.min(ring.capacity());
        ring.snapshot(&mut self.re[..n]);
        for (x, w) in self.re.iter_mut().zip(&self.window) {
            *x *= w;
        }
        self.im.fill(0.0);
        fft(&mut self.re, &mut self.im, &self.twiddle);
        let fall = self.fall_db_per_s * dt.max(0.0);
        for (k, l) in self.level_db.iter_mut().enumerate() {
            let p = self.re[k] * self.re[k] + self.im[k] * self.im[k];
            let db = 10.0 * p.max(1e-16).log10();
            *l = db.max(*l - fall);
        }
    }

    /// Highest level (dB) of the bins between `f_lo` and `f_hi` Hz at sample rate `fs`.
    pub fn level_db(&self, f_lo: f32, f_hi: f32, fs: f32) -> f32 {
        let df = fs / self.size as f32;
        let last = self.level_db.len() - 1;
        let a = ((f_lo / df).round() as usize).min(last);
        let b = ((f_hi / df).round() as usize).clamp(a, last);
        self.level_db[a..=b]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// Draws the spectrum into `rect`: x is `log10(f)` from `f_min` to `f_max`, y maps
    /// `db_bottom..db_top` to bottom..top. `fill` draws a filled area, else a line.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        &self,
        painter: &egui::Painter,
        rect: Rect,
        fs: f32,
        f_min: f32,
        f_max: f32,
        db_bottom: f32,
        db_top: f32,
        colour: Color32,
        fill: bool,
    ) {
        if fs <= 0.0 {
            return;
        }
        let w = rect.width().max(1.0) as usize;
        let (l0, l1) = (f_min.log10(), f_max.min(0.5 * fs).log10());
        let x_end = rect.left() + rect.width() * ((l1 - f_min.log10()) / (f_max.log10() - l0));
        let steps = w.min(400);
        let mut points: Vec<Pos2> = Vec::with_capacity(steps + 2);
        for i in 0..=steps {
            let t0 = i as f32 / steps as f32;
            let t1 = (i as f32 + 1.0) / steps as f32;
            let f_lo = 10f32.powf(l0 + (l1 - l0) * t0);
            let f_hi = 10f32.powf(l0 + (l1 - l0) * t1);
            let db = self.level_db(f_lo, f_hi, fs);
            let y = rect.bottom() - rect.height() * ((db - db_bottom) / (db_top - db_bottom));
            let x = rect.left() + (x_end - rect.left()) * t0;
            points.push(pos2(x, y.clamp(rect.top(), rect.bottom())));
        }
        if fill {
            let mut mesh = egui::Mesh::default();
            for p in &points {
                let i = mesh.vertices.len() as u32;
                mesh.colored_vertex(*p, colour);
                mesh.colored_vertex(pos2(p.x, rect.bottom()), colour);
                if i >= 2 {
                    mesh.add_triangle(i - 2, i - 1, i);
                    mesh.add_triangle(i - 1, i, i + 1);
                }
            }
            painter.add(Shape::mesh(mesh));
        } else {
            painter.add(Shape::line(points, Stroke::new(1.0, colour)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_snapshot_returns_newest_samples_in_order() {
        let r = SampleRing::new(8);
        r.push_iter((0..11).map(|x| x as f32));
        let mut out = [0.0; 4];
        r.snapshot(&mut out);
        assert_eq!(out, [7.0, 8.0, 9.0, 10.0]);
    }

    #[test]
    fn full_scale_sine_reads_0_db_at_its_bin() {
        let fs = 48_000.0;
        let n = 4096;
        let f = 64.0 * fs / n as f32; // bin-centred
        let r = SampleRing::new(n);
        r.push_iter((0..n).map(|i| (2.0 * PI * f * i as f32 / fs).sin()));
        let mut a = SpectrumAnalyzer::new(n);
        a.update(&r, 0.0);
        let peak = a.level_db(f - 1.0, f + 1.0, fs);
        assert!(peak.abs() < 0.05, "{peak}");
        let far = a.level_db(4.0 * f, 5.0 * f, fs);
        assert!(far < -80.0, "{far}");
    }
}
