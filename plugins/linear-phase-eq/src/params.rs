//! Parameters of Postmix Linear-Phase EQ. IDs are permanent: renaming a field is fine, changing an ID breaks
//! users' sessions.

use nice_plug::prelude::*;
use shared_ui::output::OutputParams;

/// Every parameter of Postmix Linear-Phase EQ.
#[derive(Params, Default)]
pub struct LinearPhaseEqParams {
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}
