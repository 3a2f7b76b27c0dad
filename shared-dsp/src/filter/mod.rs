//! IIR filters: analog-prototype EQ curve model, analog-matched biquads.
//!
//! - [`curve`]: [`BandType`], [`Band`], their exact analog prototypes and the summed
//!   [`EqCurve`] (what the editor draws and what the linear-phase FIR is designed from).
//! - [`design`]: minimum-phase digital sections magnitude-matched to those prototypes
//!   (Vicanek 2016), which do not cramp near Nyquist.
//! - [`chain`]: [`IirEq`], a multi-channel, click-free processing unit over a set of bands.
//! - [`highpass`]: [`ButterworthHighPass`], one 12 dB/oct section (sidechain and DC filters).

pub mod chain;
pub mod curve;
pub mod design;
pub mod highpass;

pub use chain::{IirEq, process_stereo};
pub use curve::{AnalogSection, Band, BandType, EqCurve, MAX_SECTIONS, Prototype, Slope, curve_db};
pub use design::{DigitalBand, biquad_response, match_section};
pub use highpass::ButterworthHighPass;
