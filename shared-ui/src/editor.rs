//! The editor frame every Postmix plugin starts from: title bar, parameter controls, and the
//! output meter on the right.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::generic_ui::{self, GenericSlider};
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use std::sync::Arc;
use std::time::Instant;

use crate::meter::{Ballistics, MeterValue, vertical_meter};
use crate::theme;

/// Default editor size (logical pixels).
pub const DEFAULT_SIZE: (u32, u32) = (460, 340);

/// A plugin editor: title, every parameter as a control, and an output level meter.
pub struct PluginEditorApp<P: Params> {
    /// Plugin display name shown as the title.
    title: &'static str,
    /// The plugin's parameters.
    params: Arc<P>,
    /// Output peak written by the audio thread.
    output_meter: Arc<MeterValue>,
    /// GUI-side ballistics of the output meter.
    ballistics: Ballistics,
    /// Time of the previous frame, for the meter's fall rate.
    last_frame: Option<Instant>,
    /// Host context to set parameters through; present while the window is open.
    gui: Option<GuiContext>,
}

impl<P: Params> NiceEguiApp for PluginEditorApp<P> {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        theme::apply(&egui_ctx);
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.as_ref() else { return };
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = self.last_frame.map_or(0.0, |t| (now - t).as_secs_f32());
        self.last_frame = Some(now);
        let (level, hold) = self.ballistics.update(self.output_meter.take(), dt);

        egui::Panel::right("output_meter")
            .resizable(false)
            .show(ui, |ui| {
                ui.label("Out");
                let h = ui.available_height() - 24.0;
                vertical_meter(ui, egui::vec2(18.0, h.max(40.0)), level, hold, -60.0, 6.0);
                ui.label(if hold > -120.0 {
                    format!("{hold:.1}")
                } else {
                    "-inf".to_owned()
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(self.title);
            ui.separator();
            generic_ui::create(ui, self.params.clone(), &setter, GenericSlider);
        });
        // Meters move while audio plays: keep repainting at display rate.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
        self.last_frame = None;
    }
}

/// Creates the editor for a plugin with display name `title`.
pub fn create_editor<P: Params + 'static>(
    title: &'static str,
    params: Arc<P>,
    output_meter: Arc<MeterValue>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<PluginEditorApp<P>>> {
    let app = PluginEditorApp {
        title,
        params,
        output_meter,
        ballistics: Ballistics::default(),
        last_frame: None,
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile(title),
        app,
    )
}

/// Editor state at the default size, 1x zoom.
pub fn default_state() -> Arc<EguiEditorState> {
    state_with_size(DEFAULT_SIZE.0 as f64, DEFAULT_SIZE.1 as f64)
}

/// Editor state at a logical size, 1x zoom.
pub fn state_with_size(width: f64, height: f64) -> Arc<EguiEditorState> {
    EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(width, height), 1.0)
}

/// Sets `param` to `plain` as one host gesture (begin, set, end), as a click on a button does.
pub fn set_param<P: Param>(setter: &ParamSetter, param: &P, plain: P::Plain) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, plain);
    setter.end_set_parameter(param);
}

/// A meter readout: one decimal, or "-inf" for silence.
pub fn level_label(db: f32) -> String {
    if db > -120.0 {
        format!("{db:.1}")
    } else {
        "-inf".to_owned()
    }
}
