//! A multi-channel delay line ([`DelayLine`]): the latency-aligned dry path, bypass and mix of
//! every plugin that delays its wet signal.

/// Delay line per channel over a power-of-two ring, processed in pieces of at most `max_block`
/// samples: for each piece call [`Self::run`] (or [`Self::write`] / [`Self::write_tail`]) for
/// every channel, then [`Self::advance`] once.
///
/// NOTE: written and read in contiguous runs (memcpy speed) instead of a masked index per
/// sample. Writing a whole piece before reading it is safe: the ring is at least
/// `max_delay + max_block + 1` long, so a piece never overwrites what it still has to read.
#[derive(Debug, Clone)]
pub struct DelayLine {
    /// One ring per channel.
    ring: Vec<Vec<f32>>,
    /// Index mask (ring length - 1).
    mask: usize,
    /// Write position of the current piece.
    pos: usize,
    /// Delay in samples.
    delay: usize,
    /// Longest delay the ring was sized for.
    max_delay: usize,
    /// Longest piece the ring was sized for.
    max_block: usize,
}

impl DelayLine {
    /// A delay line for `channels` channels, delays up to `max_delay` samples and pieces of up
    /// to `max_block` samples; delay 0, silent. Allocates everything.
    ///
    /// # Panics
    /// If `channels` or `max_block` is 0.
    pub fn new(channels: usize, max_delay: usize, max_block: usize) -> Self {
        assert!(
            channels > 0 && max_block > 0,
            "channels and max_block must be > 0"
        );
        let len = (max_delay + max_block + 1).next_power_of_two();
        Self {
            ring: vec![vec![0.0; len]; channels],
            mask: len - 1,
            pos: 0,
            delay: 0,
            max_delay,
            max_block,
        }
    }

    /// Sets the delay in samples (keeps the ring: the output jumps to the new position).
    ///
    /// # Panics
    /// If `delay` exceeds the `max_delay` given to [`Self::new`].
    pub fn set_delay(&mut self, delay: usize) {
        assert!(
            delay <= self.max_delay,
            "delay {delay} > max_delay {}",
            self.max_delay
        );
        self.delay = delay;
    }

    /// The delay in samples.
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// The longest delay the ring was sized for.
    pub fn max_delay(&self) -> usize {
        self.max_delay
    }

    /// Silences every channel. Never allocates.
    pub fn reset(&mut self) {
        self.fill(0.0);
    }

    /// Sets every sample of every channel to `value` ([`Self::reset`] with another value), so
    /// that a delayed control signal, a gain for instance, starts from a neutral value. Never
    /// allocates.
    pub fn fill(&mut self, value: f32) {
        self.ring.iter_mut().for_each(|r| r.fill(value));
        self.pos = 0;
    }

    /// Writes `input` of channel `ch` and reads the delayed signal into `out` (same length).
    ///
    /// # Panics
    /// If the lengths differ or exceed `max_block`, or `ch` is out of range.
    pub fn run(&mut self, ch: usize, input: &[f32], out: &mut [f32]) {
        assert_eq!(input.len(), out.len(), "input and output lengths differ");
        self.write(ch, input);
        let n = out.len();
        let size = self.mask + 1;
        let ring = &self.ring[ch];
        let r = self.pos.wrapping_sub(self.delay) & self.mask;
        let first = n.min(size - r);
        out[..first].copy_from_slice(&ring[r..r + first]);
        out[first..].copy_from_slice(&ring[..n - first]);
    }

    /// Writes `input` of channel `ch` without reading (the delayed signal is not needed for this
    /// piece, but must be there for the next ones).
    ///
    /// # Panics
    /// If `input` is longer than `max_block`, or `ch` is out of range.
    pub fn write(&mut self, ch: usize, input: &[f32]) {
        let n = self.piece_len(input);
        let size = self.mask + 1;
        let ring = &mut self.ring[ch];
        let w = self.pos;
        let first = n.min(size - w);
        ring[w..w + first].copy_from_slice(&input[..first]);
        ring[..n - first].copy_from_slice(&input[first..]);
    }

    /// Writes only the last `delay` samples of `input` (where [`Self::write`] would put them):
    /// all the history a read in the next piece needs. Then [`Self::advance`] by `input.len()`.
    ///
    /// # Panics
    /// If `input` is longer than `max_block`, or `ch` is out of range.
    pub fn write_tail(&mut self, ch: usize, input: &[f32]) {
        let n = self.piece_len(input);
        let k = self.delay.min(n);
        let start = self.pos + n - k;
        let ring = &mut self.ring[ch];
        for (j, &x) in input[n - k..].iter().enumerate() {
            ring[(start + j) & self.mask] = x;
        }
    }

    /// Length of a piece, checked against `max_block`.
    fn piece_len(&self, input: &[f32]) -> usize {
        let n = input.len();
        assert!(
            n <= self.max_block,
            "piece of {n} > max_block {}",
            self.max_block
        );
        n
    }

    /// Moves on by `n` samples (the length of the piece every channel just wrote).
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n) & self.mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output is the input delayed by exactly `delay` samples, per channel, for pieces of
    /// any length up to `max_block`, across the ring's wrap-around and a delay change; a
    /// `write_tail` piece leaves the same history as a full `write`.
    #[test]
    fn output_is_the_input_delayed_by_the_delay() {
        let x: Vec<f32> = (0..5000)
            .map(|i| (i as f32 * 0.37).sin() + i as f32 * 1e-3)
            .collect();
        let y: Vec<f32> = x.iter().map(|v| -2.0 * v).collect();
        for delay in [0, 1, 63, 64, 300] {
            let mut d = DelayLine::new(2, 300, 64);
            d.set_delay(delay);
            let (mut ox, mut oy) = (vec![0.0f32; x.len()], vec![0.0f32; y.len()]);
            let mut start = 0;
            for (k, len) in [1, 64, 17, 40].into_iter().cycle().enumerate() {
                if start >= x.len() {
                    break;
                }
                let end = (start + len).min(x.len());
                if k % 7 == 3 {
                    // The output of this piece is not needed.
                    d.write_tail(0, &x[start..end]);
                    ox[start..end].fill(f32::NAN);
                } else {
                    d.run(0, &x[start..end], &mut ox[start..end]);
                }
                d.run(1, &y[start..end], &mut oy[start..end]);
                d.advance(end - start);
                start = end;
            }
            for i in 0..x.len() {
                let want = |s: &[f32]| if i >= delay { s[i - delay] } else { 0.0 };
                assert!(
                    ox[i].is_nan() || ox[i] == want(&x),
                    "delay {delay}, sample {i}"
                );
                assert_eq!(oy[i], want(&y), "delay {delay}, sample {i}");
            }
        }
    }
}
