//! Parameters of Postmix Loudness Meter. IDs are permanent: renaming a field is fine, changing an ID breaks
//! users' sessions.

use nice_plug::prelude::*;
use shared_ui::output::OutputParams;

/// Every parameter of Postmix Loudness Meter.
#[derive(Params, Default)]
pub struct LoudnessMeterParams {
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}
