//! The bus compressor's editor: input, gain-reduction and output meters, the transfer curve with
//! the operating point, the gain-reduction history, and every control (with one-click classic
//! ratios and attack times).

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use shared_dsp::dynamics::{Compression, GainComputer, Lower};
use shared_dsp::util::gain_to_db;
use shared_ui::dynamics_view::{GrHistory, gain_reduction_meter, transfer_curve};
use shared_ui::editor::{level_label, set_param as set};
use shared_ui::meter::{Ballistics, vertical_meter};
use shared_ui::theme;
use std::sync::Arc;
use std::time::Instant;

use crate::{
    BusCompressorParams, CLASSIC_ATTACKS_MS, CLASSIC_RATIOS, Meters, range_db_from_param,
    ratio_from_step, step_from_ratio,
};

/// Editor size in logical pixels.
pub const SIZE: (u32, u32) = (800, 720);
/// Fall rate of the displayed gain reduction, dB per second.
const GR_FALL_DB_PER_S: f32 = 40.0;
/// Smallest editor size in logical pixels.
pub const MIN_SIZE: (u32, u32) = (640, 440);
/// Frames of gain-reduction history (about 5 s at 60 fps).
const HISTORY_FRAMES: usize = 300;
/// Bottom of the transfer-curve plot and the level meters, dB.
const PLOT_MIN_DB: f32 = -60.0;
/// Top of the transfer-curve plot and the level meters, dB.
const PLOT_MAX_DB: f32 = 6.0;
/// Gain-reduction meter and history scale, dB.
const GR_SCALE_DB: f32 = 24.0;

/// The editor's state on the GUI thread.
pub struct BusCompressorEditor {
    /// The plugin's parameters.
    params: Arc<BusCompressorParams>,
    /// Meter values from the audio thread.
    meters: Arc<Meters>,
    /// Input meter ballistics.
    input: Ballistics,
    /// Output meter ballistics.
    output: Ballistics,
    /// Gain-reduction hold (dB) and its remaining time (s).
    gr_hold: (f32, f32),
    /// Displayed gain reduction (dB): rises at once, falls at [`GR_FALL_DB_PER_S`], so frames
    /// without a new audio block do not flicker.
    gr_display: f32,
    /// Gain-reduction history, one value per frame.
    history: GrHistory,
    /// Time of the previous frame.
    last_frame: Option<Instant>,
    /// Host context while the window is open.
    gui: Option<GuiContext>,
}

/// Creates the editor.
pub fn create(
    params: Arc<BusCompressorParams>,
    meters: Arc<Meters>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<BusCompressorEditor>> {
    let app = BusCompressorEditor {
        params,
        meters,
        input: Ballistics::default(),
        output: Ballistics::default(),
        gr_hold: (0.0, 0.0),
        gr_display: 0.0,
        history: GrHistory::new(HISTORY_FRAMES),
        last_frame: None,
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Postmix Bus Compressor"),
        app,
    )
}

/// Editor state at [`SIZE`], 1x zoom.
pub fn default_state() -> Arc<EguiEditorState> {
    shared_ui::editor::state_with_size(SIZE.0 as f64, SIZE.1 as f64)
}

/// One labelled slider row in a grid.
fn row<P: Param>(ui: &mut egui::Ui, setter: &ParamSetter, param: &P) {
    ui.label(param.name());
    ui.add(ParamSlider::for_param(param, setter).with_width(110.0));
    ui.end_row();
}

impl NiceEguiApp for BusCompressorEditor {
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
        let p = &self.params;
        let now = Instant::now();
        let dt = self.last_frame.map_or(0.0, |t| (now - t).as_secs_f32());
        self.last_frame = Some(now);

        let (in_db, in_hold) = self.input.update(self.meters.input.take(), dt);
        let (out_db, out_hold) = self.output.update(self.meters.output.take(), dt);
        let gr_block = self.meters.gain_reduction_db.take();
        self.history.push(gr_block);
        self.gr_display = gr_block.max(self.gr_display - GR_FALL_DB_PER_S * dt);
        let gr = self.gr_display;
        if gr >= self.gr_hold.0 || self.gr_hold.1 <= 0.0 {
            self.gr_hold = (gr, Ballistics::HOLD_S);
        } else {
            self.gr_hold.1 -= dt;
        }

        // The static curve as set (targets, not the smoothed values).
        let compression = Compression {
            threshold_db: p.threshold_db.value(),
            ratio: ratio_from_step(p.ratio_step.value()),
            knee_db: p.knee_db.value(),
            range_db: range_db_from_param(p.range_db.value()),
        };
        let gc = GainComputer::new(compression, Lower::Off);
        let makeup = gain_to_db(p.makeup_gain.value())
            + if p.auto_makeup.value() {
                -gc.gain_db(0.0)
            } else {
                0.0
            };

        let gr_hold = self.gr_hold.0;
        let history = &self.history;
        ResizableWindow::new("bus-compressor")
            .min_size(egui::vec2(MIN_SIZE.0 as f32, MIN_SIZE.1 as f32))
            .show(ui, |ui| {
                egui::Panel::left("meters").resizable(false).show(ui, |ui| {
                    // Readouts like "-18.4" must not wrap inside the narrow meter columns.
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
                    let h = (ui.available_height() - 64.0).max(60.0);
                    ui.horizontal(|ui| {
                        ui.vertical(|ui| {
                            ui.label("In");
                            vertical_meter(
                                ui,
                                egui::vec2(16.0, h),
                                in_db,
                                in_hold,
                                PLOT_MIN_DB,
                                PLOT_MAX_DB,
                            );
                            ui.label(level_label(in_hold));
                        });
                        ui.vertical(|ui| {
                            ui.label("GR");
                            gain_reduction_meter(ui, egui::vec2(16.0, h), gr, gr_hold, GR_SCALE_DB);
                            ui.label(format!("{:.1}", gr_hold));
                        });
                        ui.vertical(|ui| {
                            ui.label("Out");
                            vertical_meter(
                                ui,
                                egui::vec2(16.0, h),
                                out_db,
                                out_hold,
                                PLOT_MIN_DB,
                                PLOT_MAX_DB,
                            );
                            ui.label(level_label(out_hold));
                        });
                    });
                });

                egui::CentralPanel::default().show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.heading("Postmix Bus Compressor");
                        ui.add_space(12.0);
                        ui.label(format!("GR {:.1} dB", gr_hold));
                    });
                    ui.separator();
                    // The plots grow with the window (resizable by its corner).
                    let plot = (ui.available_height() - 480.0).clamp(150.0, 480.0);
                    ui.horizontal(|ui| {
                        let point = (in_db > PLOT_MIN_DB).then_some((in_db, in_db - gr + makeup));
                        transfer_curve(
                            ui,
                            egui::vec2(plot, plot),
                            PLOT_MIN_DB,
                            PLOT_MAX_DB,
                            Some(compression.threshold_db),
                            point,
                            |x| gc.curve(x) + makeup,
                        );
                        let w = ui.available_width().max(100.0);
                        history.draw(ui, egui::vec2(w, plot), GR_SCALE_DB);
                    });
                    ui.add_space(6.0);
                    ui.horizontal(|ui| {
                        ui.label("Ratio");
                        for r in CLASSIC_RATIOS {
                            let text = if r.is_infinite() {
                                "inf".to_owned()
                            } else {
                                format!("{r}")
                            };
                            let on = p.ratio_step.value() == step_from_ratio(r);
                            if ui.selectable_label(on, text).clicked() {
                                set(&setter, &p.ratio_step, step_from_ratio(r));
                            }
                        }
                        ui.add_space(12.0);
                        ui.label("Attack");
                        for a in CLASSIC_ATTACKS_MS {
                            let on = (p.attack_ms.value() - a).abs() < 1e-4 * a.max(1.0);
                            if ui.selectable_label(on, format!("{a}")).clicked() {
                                set(&setter, &p.attack_ms, a);
                            }
                        }
                    });
                    ui.add_space(4.0);
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        ui.horizontal_top(|ui| {
                            egui::Grid::new("dynamics").num_columns(2).show(ui, |ui| {
                                row(ui, &setter, &p.threshold_db);
                                row(ui, &setter, &p.ratio_step);
                                row(ui, &setter, &p.attack_ms);
                                row(ui, &setter, &p.release_ms);
                                row(ui, &setter, &p.auto_release);
                                row(ui, &setter, &p.knee_db);
                                row(ui, &setter, &p.range_db);
                                row(ui, &setter, &p.makeup_gain);
                                row(ui, &setter, &p.auto_makeup);
                            });
                            ui.add_space(8.0);
                            egui::Grid::new("sidechain").num_columns(2).show(ui, |ui| {
                                row(ui, &setter, &p.detector);
                                row(ui, &setter, &p.stereo_link);
                                row(ui, &setter, &p.mid_side);
                                row(ui, &setter, &p.sc_hpf_hz);
                                row(ui, &setter, &p.external_sidechain);
                                row(ui, &setter, &p.sc_listen);
                                row(ui, &setter, &p.lookahead_ms);
                                row(ui, &setter, &p.oversampling);
                                row(ui, &setter, &p.mix);
                                row(ui, &setter, &p.output.output_gain);
                                row(ui, &setter, &p.output.bypass);
                            });
                        });
                    });
                });
            });
        // Meters move while audio plays: keep repainting at display rate.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
        self.last_frame = None;
        self.history.clear();
    }
}
