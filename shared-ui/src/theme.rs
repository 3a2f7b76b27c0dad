//! The suite's look: dark panel, one accent colour, readable text at 1x and 2x scaling.

use egui::{Color32, Context, FontId, TextStyle, Visuals};

/// Accent colour used for values, curves and active controls.
pub const ACCENT: Color32 = Color32::from_rgb(0x4f, 0xc3, 0xf7);
/// Panel background.
pub const BACKGROUND: Color32 = Color32::from_rgb(0x1c, 0x1f, 0x24);
/// Meter colour below -18 dBFS.
pub const METER_LOW: Color32 = Color32::from_rgb(0x4c, 0xaf, 0x50);
/// Meter colour between -18 and -6 dBFS.
pub const METER_MID: Color32 = Color32::from_rgb(0xff, 0xc1, 0x07);
/// Meter colour above -6 dBFS and for overs.
pub const METER_HIGH: Color32 = Color32::from_rgb(0xf4, 0x43, 0x36);

/// Applies the Postmix look to an egui context. Call once from the editor's `build`.
pub fn apply(ctx: &Context) {
    let mut visuals = Visuals::dark();
    visuals.panel_fill = BACKGROUND;
    visuals.window_fill = BACKGROUND;
    visuals.selection.bg_fill = ACCENT.gamma_multiply(0.6);
    visuals.widgets.active.bg_fill = ACCENT;
    ctx.set_visuals(visuals);
    ctx.all_styles_mut(|style| {
        style
            .text_styles
            .insert(TextStyle::Heading, FontId::proportional(20.0));
        style
            .text_styles
            .insert(TextStyle::Body, FontId::proportional(14.0));
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
    });
}
