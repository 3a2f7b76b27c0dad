//! Constant-memory gating for integrated loudness and loudness range.
//!
//! Block energies are binned by loudness into 0.005 LU bins from -70 to +20 LUFS. Each bin keeps
//! its block count and the exact sum of its blocks' energies, in Fenwick (binary indexed) trees,
//! so adding a block and every readout cost O(log bins) whatever the programme length. Gating
//! thresholds are computed from exact energy totals; only blocks within half a bin (0.0025 LU) of
//! a relative gate can be classified differently from exact gating, and percentiles are read at
//! the bin centre (error at most 0.0025 LU each).

/// Lowest loudness binned (the absolute gate, LUFS); blocks at or below it are dropped.
pub const ABS_GATE_LUFS: f64 = -70.0;
/// Top of the binned range (LUFS); louder blocks land in the top bin with their exact energy.
const TOP_LUFS: f64 = 20.0;
/// Bin width in LU.
pub const BIN_LU: f64 = 0.005;
/// Number of bins.
const BINS: usize = ((TOP_LUFS - ABS_GATE_LUFS) / BIN_LU) as usize;

/// Loudness (LUFS) of a mean-square weighted energy.
#[inline]
pub fn energy_to_lufs(e: f64) -> f64 {
    -0.691 + 10.0 * e.log10()
}

/// Mean-square weighted energy of a loudness (LUFS).
#[inline]
pub fn lufs_to_energy(l: f64) -> f64 {
    10f64.powf((l + 0.691) / 10.0)
}

/// Histogram of gated block energies.
#[derive(Debug, Clone)]
pub struct GatingHistogram {
    /// Fenwick tree of block counts per bin (1-based).
    count: Vec<u64>,
    /// Fenwick tree of energy sums per bin (1-based).
    energy: Vec<f64>,
    /// Blocks above the absolute gate.
    total_count: u64,
    /// Sum of the energies of the blocks above the absolute gate.
    total_energy: f64,
}

impl Default for GatingHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl GatingHistogram {
    /// Allocates the bins (about 290 kB).
    pub fn new() -> Self {
        Self {
            count: vec![0; BINS + 1],
            energy: vec![0.0; BINS + 1],
            total_count: 0,
            total_energy: 0.0,
        }
    }

    /// Empties the histogram (no allocation).
    pub fn clear(&mut self) {
        self.count.fill(0);
        self.energy.fill(0.0);
        self.total_count = 0;
        self.total_energy = 0.0;
    }

    /// Blocks above the absolute gate so far.
    pub fn len(&self) -> u64 {
        self.total_count
    }

    /// True when no block passed the absolute gate.
    pub fn is_empty(&self) -> bool {
        self.total_count == 0
    }

    /// Adds one block of mean-square weighted energy `e`; blocks at or below -70 LUFS are dropped.
    pub fn add(&mut self, e: f64) {
        if e.is_nan() || e <= 0.0 || !e.is_finite() {
            return;
        }
        let l = energy_to_lufs(e);
        if l <= ABS_GATE_LUFS {
            return;
        }
        let bin = (((l - ABS_GATE_LUFS) / BIN_LU) as usize).min(BINS - 1);
        self.total_count += 1;
        self.total_energy += e;
        let mut i = bin + 1;
        while i <= BINS {
            self.count[i] += 1;
            self.energy[i] += e;
            i += i & i.wrapping_neg();
        }
    }

    /// Count and energy of bins `0..bin`.
    fn prefix(&self, bin: usize) -> (u64, f64) {
        let (mut c, mut e) = (0, 0.0);
        let mut i = bin.min(BINS);
        while i > 0 {
            c += self.count[i];
            e += self.energy[i];
            i &= i - 1;
        }
        (c, e)
    }

    /// First bin whose centre lies above `lufs`.
    fn first_bin_above(lufs: f64) -> usize {
        let x = (lufs - ABS_GATE_LUFS) / BIN_LU - 0.5;
        if x < 0.0 {
            0
        } else {
            ((x.floor() as usize) + 1).min(BINS)
        }
    }

    /// Centre (LUFS) of a bin.
    fn centre(bin: usize) -> f64 {
        ABS_GATE_LUFS + (bin as f64 + 0.5) * BIN_LU
    }

    /// The bin holding the `k`-th block (0-based, in ascending loudness).
    fn kth(&self, k: u64) -> usize {
        let mut pos = 0;
        let mut rem = k;
        let mut step = BINS.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= BINS && self.count[next] <= rem {
                pos = next;
                rem -= self.count[next];
            }
            step >>= 1;
        }
        pos
    }

    /// Count and energy of the blocks above the relative gate `gate_lu` below the energy mean of
    /// all blocks, plus the first bin kept. `None` when nothing is kept.
    fn relative_gated(&self, gate_lu: f64) -> Option<(u64, f64, usize)> {
        if self.total_count == 0 {
            return None;
        }
        let mean = self.total_energy / self.total_count as f64;
        let gate = energy_to_lufs(mean) - gate_lu;
        let j0 = Self::first_bin_above(gate);
        let (c0, e0) = self.prefix(j0);
        let c = self.total_count - c0;
        (c > 0).then(|| (c, (self.total_energy - e0).max(0.0), j0))
    }

    /// Integrated loudness (BS.1770 two-stage gating, relative gate -10 LU), LUFS.
    pub fn integrated(&self) -> Option<f64> {
        let (c, e, _) = self.relative_gated(10.0)?;
        (e > 0.0).then(|| energy_to_lufs(e / c as f64))
    }

    /// Loudness range (EBU Tech 3342: relative gate -20 LU, 95th minus 10th percentile), LU.
    pub fn loudness_range(&self) -> Option<f64> {
        let (c, _, j0) = self.relative_gated(20.0)?;
        let (below, _) = self.prefix(j0);
        // NOTE: nearest-rank percentiles on (n - 1), as libebur128 and Tech 3342's reference
        // implementation do.
        let lo = ((c - 1) as f64 * 0.10).round() as u64;
        let hi = ((c - 1) as f64 * 0.95).round() as u64;
        let l_lo = Self::centre(self.kth(below + lo));
        let l_hi = Self::centre(self.kth(below + hi));
        Some((l_hi - l_lo).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_gating_matches_exact_gating_on_random_blocks() {
        let mut rng = crate::signal::Rng::new(11);
        let mut h = GatingHistogram::new();
        let mut all = Vec::new();
        for _ in 0..20_000 {
            let l = -80.0 + 75.0 * rng.uniform() * rng.uniform().sqrt();
            let e = lufs_to_energy(l);
            h.add(e);
            all.push(e);
        }
        // Exact oracle.
        let abs: Vec<f64> = all
            .iter()
            .copied()
            .filter(|&e| energy_to_lufs(e) > -70.0)
            .collect();
        let mean = abs.iter().sum::<f64>() / abs.len() as f64;
        let g = energy_to_lufs(mean) - 10.0;
        let rel: Vec<f64> = abs
            .iter()
            .copied()
            .filter(|&e| energy_to_lufs(e) > g)
            .collect();
        let exact = energy_to_lufs(rel.iter().sum::<f64>() / rel.len() as f64);
        let got = h.integrated().unwrap();
        assert!((got - exact).abs() < 0.01, "{got} vs {exact}");
        let g20 = energy_to_lufs(mean) - 20.0;
        let mut lr: Vec<f64> = abs
            .iter()
            .map(|&e| energy_to_lufs(e))
            .filter(|&l| l > g20)
            .collect();
        lr.sort_by(f64::total_cmp);
        let n = lr.len();
        let lra = lr[((n - 1) as f64 * 0.95).round() as usize]
            - lr[((n - 1) as f64 * 0.1).round() as usize];
        let got = h.loudness_range().unwrap();
        assert!((got - lra).abs() < 0.01, "{got} vs {lra}");
    }

    #[test]
    fn empty_histogram_reads_none() {
        let mut h = GatingHistogram::new();
        assert_eq!(h.integrated(), None);
        h.add(lufs_to_energy(-75.0));
        h.add(0.0);
        assert_eq!(h.integrated(), None);
        assert_eq!(h.loudness_range(), None);
    }
}
