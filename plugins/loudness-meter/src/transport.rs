//! Start/pause/reset control: the editor's buttons and the "reset and run with transport"
//! option, as a small state machine the audio thread steps once per block.

use crate::readings::command;

/// What the audio thread does to the meter before metering a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockActions {
    /// Clear integrated, LRA, maxima and true-peak hold ([`LoudnessMeter::reset_measurement`]).
    ///
    /// [`LoudnessMeter::reset_measurement`]: shared_dsp::loudness::LoudnessMeter::reset_measurement
    pub reset: bool,
    /// Integration runs during this block.
    pub running: bool,
}

/// The run state of the meter.
///
/// Rules, applied once per block in this order:
/// 1. With the transport link on, the transport *starting* (stopped in the previous block,
///    playing now) resets the measurement and runs it; the transport *stopping* pauses it.
///    Only changes act, so the buttons still work while the transport stands still or plays,
///    and turning the link on mid-playback does not reset anything.
/// 2. Then the editor's commands: reset, then start or pause. (A click wins over a transport
///    change in the same block.)
///
/// After activation the transport counts as stopped, so a host that starts rendering with the
/// transport already playing (an offline bounce) resets and runs the meter on its first block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunControl {
    /// Integration is running.
    running: bool,
    /// The transport was playing in the previous block.
    was_playing: bool,
}

impl Default for RunControl {
    fn default() -> Self {
        Self::new()
    }
}

impl RunControl {
    /// Running, transport stopped.
    pub const fn new() -> Self {
        Self {
            running: true,
            was_playing: false,
        }
    }

    /// Whether integration is running.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Forgets the transport state (call on activation); keeps running/paused.
    pub fn activate(&mut self) {
        self.was_playing = false;
    }

    /// Steps one block: `commands` are the editor's [`command`] bits since the last block,
    /// `link` the transport-link option, `playing` the host transport.
    pub fn step(&mut self, commands: u8, link: bool, playing: bool) -> BlockActions {
        let mut reset = false;
        if link && playing && !self.was_playing {
            reset = true;
            self.running = true;
        } else if link && !playing && self.was_playing {
            self.running = false;
        }
        self.was_playing = playing;

        if commands & command::RESET != 0 {
            reset = true;
        }
        if commands & command::START != 0 {
            self.running = true;
        } else if commands & command::PAUSE != 0 {
            self.running = false;
        }
        BlockActions {
            reset,
            running: self.running,
        }
    }
}
