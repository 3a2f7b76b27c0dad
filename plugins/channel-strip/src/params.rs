//! Parameters of Postmix Channel Strip. IDs are permanent: renaming a field is fine, changing an ID breaks
//! users' sessions.

use nice_plug::prelude::*;
use shared_ui::output::OutputParams;

/// Every parameter of Postmix Channel Strip.
#[derive(Params, Default)]
pub struct ChannelStripParams {
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}
