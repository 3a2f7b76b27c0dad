//! Parameters of Postmix Bus Compressor. IDs are permanent: renaming a field is fine, changing an ID breaks
//! users' sessions.

use nice_plug::prelude::*;
use shared_ui::output::OutputParams;

/// Every parameter of Postmix Bus Compressor.
#[derive(Params, Default)]
pub struct BusCompressorParams {
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}
