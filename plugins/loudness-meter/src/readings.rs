//! What passes between the audio thread and the editor, lock-free: the readings (atomics), the
//! 10 Hz history of momentary and short-term loudness (a single-producer ring), and the editor's
//! commands (start, pause, reset).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use crate::params::HISTORY_MAX_POINTS;

/// Channels the meter handles at most (5.1).
pub const MAX_CHANNELS: usize = 6;

/// An `Option<f64>` in an atomic: `None` is stored as NaN. Relaxed ordering: each value stands on
/// its own.
#[derive(Debug)]
pub struct AtomicReading(AtomicU64);

impl Default for AtomicReading {
    fn default() -> Self {
        Self(AtomicU64::new(f64::NAN.to_bits()))
    }
}

impl AtomicReading {
    /// Stores a reading (`None` = undefined).
    #[inline]
    pub fn store(&self, v: Option<f64>) {
        self.0
            .store(v.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
    }

    /// Loads the reading; `None` when undefined.
    #[inline]
    pub fn load(&self) -> Option<f64> {
        let v = f64::from_bits(self.0.load(Ordering::Relaxed));
        v.is_finite().then_some(v)
    }
}

/// A single-producer, multi-reader ring of (momentary, short-term) pairs, preallocated.
///
/// The audio thread [`push`](HistoryRing::push)es one pair every 100 ms; the editor copies the
/// newest points out with [`read_latest`](HistoryRing::read_latest). Each pair is packed into
/// one `AtomicU64` (two `f32`), so a pair is never torn; undefined values are NaN.
///
/// NOTE: the ring holds [`HistoryRing::CAPACITY`] points, more than the longest read
/// ([`HISTORY_MAX_POINTS`]); a reader checks the write count again after copying and drops any
/// point the writer may have overwritten meanwhile, so a slow reader never shows a mixed-up
/// curve.
#[derive(Debug)]
pub struct HistoryRing {
    /// Packed (M, S) pairs; slot `k % CAPACITY` holds point number `k`.
    slots: Box<[AtomicU64]>,
    /// Points written since creation (monotonic); the next point goes to `written % CAPACITY`.
    written: AtomicU64,
}

impl Default for HistoryRing {
    fn default() -> Self {
        Self::new()
    }
}

/// Packs two `f32` into a `u64` (M in the low half).
#[inline]
fn pack(m: f32, s: f32) -> u64 {
    u64::from(m.to_bits()) | (u64::from(s.to_bits()) << 32)
}

/// Inverse of [`pack`].
#[inline]
fn unpack(v: u64) -> [f32; 2] {
    [f32::from_bits(v as u32), f32::from_bits((v >> 32) as u32)]
}

impl HistoryRing {
    /// Slots in the ring: the longest history plus a margin for a slow reader (100 s at 10 Hz).
    pub const CAPACITY: usize = HISTORY_MAX_POINTS + 1000;

    /// An empty ring (allocates; call off the audio thread).
    pub fn new() -> Self {
        Self {
            slots: (0..Self::CAPACITY)
                .map(|_| AtomicU64::new(pack(f32::NAN, f32::NAN)))
                .collect(),
            written: AtomicU64::new(0),
        }
    }

    /// Appends a point (LUFS; `None` = undefined). Real-time safe; one producer only.
    #[inline]
    pub fn push(&self, momentary: Option<f64>, short_term: Option<f64>) {
        let k = self.written.load(Ordering::Relaxed);
        let v = |x: Option<f64>| x.map_or(f32::NAN, |x| x as f32);
        self.slots[(k % Self::CAPACITY as u64) as usize]
            .store(pack(v(momentary), v(short_term)), Ordering::Relaxed);
        self.written.store(k + 1, Ordering::Release);
    }

    /// Points written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Fills `out` with the newest `out.len()` points, oldest first, as [M, S] in LUFS (NaN =
    /// undefined or not yet written). `out.len()` must not exceed [`HISTORY_MAX_POINTS`].
    /// Returns the write count the copy corresponds to.
    ///
    /// # Panics
    /// If `out` is longer than [`HISTORY_MAX_POINTS`].
    pub fn read_latest(&self, out: &mut [[f32; 2]]) -> u64 {
        assert!(out.len() <= HISTORY_MAX_POINTS, "history read too long");
        let n = out.len() as u64;
        let end = self.written.load(Ordering::Acquire);
        let start = end.saturating_sub(n);
        let pad = (n - (end - start)) as usize;
        out[..pad].fill([f32::NAN; 2]);
        for (o, k) in out[pad..].iter_mut().zip(start..end) {
            *o = unpack(self.slots[(k % Self::CAPACITY as u64) as usize].load(Ordering::Relaxed));
        }
        // Points older than `after - CAPACITY` may have been overwritten while we copied.
        let after = self.written.load(Ordering::Acquire);
        let valid_from = after.saturating_sub(Self::CAPACITY as u64);
        if valid_from > start {
            let lost = ((valid_from - start) as usize).min(out.len() - pad);
            out[pad..pad + lost].fill([f32::NAN; 2]);
        }
        end
    }
}

/// Editor commands, as bits of [`Readings::commands`].
pub mod command {
    /// Start (or continue) integration.
    pub const START: u8 = 1;
    /// Pause integration (momentary and short-term stay live).
    pub const PAUSE: u8 = 2;
    /// Clear integrated, LRA, maxima and true-peak hold together.
    pub const RESET: u8 = 4;
}

/// Everything the audio thread publishes and the editor reads, plus the editor's commands.
#[derive(Debug)]
pub struct Readings {
    /// Momentary loudness, LUFS.
    pub momentary: AtomicReading,
    /// Short-term loudness, LUFS.
    pub short_term: AtomicReading,
    /// Integrated loudness, LUFS.
    pub integrated: AtomicReading,
    /// Loudness range, LU.
    pub loudness_range: AtomicReading,
    /// Maximum momentary loudness since reset, LUFS.
    pub max_momentary: AtomicReading,
    /// Maximum short-term loudness since reset, LUFS.
    pub max_short_term: AtomicReading,
    /// Maximum true peak over all channels since reset, dBTP.
    pub true_peak_max: AtomicReading,
    /// Per-channel true peak since reset, dBTP.
    pub true_peak: [AtomicReading; MAX_CHANNELS],
    /// Channels being measured (1, 2, 5 or 6).
    pub channels: AtomicUsize,
    /// LRA has 60 s of integration behind it (Tech 3342).
    pub lra_stable: AtomicBool,
    /// Integration is running (not paused).
    pub running: AtomicBool,
    /// Seconds integrated since the last reset (running time only), as f64 bits.
    pub integration_s: AtomicReading,
    /// Pending editor commands ([`command`] bits), taken by the audio thread each block.
    pub commands: AtomicU8,
    /// M/S history at 10 Hz.
    pub history: HistoryRing,
}

impl Default for Readings {
    fn default() -> Self {
        Self {
            momentary: AtomicReading::default(),
            short_term: AtomicReading::default(),
            integrated: AtomicReading::default(),
            loudness_range: AtomicReading::default(),
            max_momentary: AtomicReading::default(),
            max_short_term: AtomicReading::default(),
            true_peak_max: AtomicReading::default(),
            true_peak: Default::default(),
            channels: AtomicUsize::new(2),
            lra_stable: AtomicBool::new(false),
            running: AtomicBool::new(true),
            integration_s: AtomicReading::default(),
            commands: AtomicU8::new(0),
            history: HistoryRing::new(),
        }
    }
}

impl Readings {
    /// Editor side: queues a command ([`command`] bits). Lock-free. START and PAUSE cancel a
    /// pending opposite command, so the latest click wins.
    pub fn send(&self, cmd: u8) {
        let cancel = match cmd & (command::START | command::PAUSE) {
            command::START => command::PAUSE,
            command::PAUSE => command::START,
            _ => 0,
        };
        if cancel != 0 {
            self.commands.fetch_and(!cancel, Ordering::AcqRel);
        }
        self.commands.fetch_or(cmd, Ordering::AcqRel);
    }

    /// Audio side: takes the pending commands. Lock-free.
    pub fn take_commands(&self) -> u8 {
        self.commands.swap(0, Ordering::AcqRel)
    }
}
