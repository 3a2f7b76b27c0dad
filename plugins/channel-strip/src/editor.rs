//! The channel strip's editor: one window, the EQ curve on top (drag the band nodes), and below
//! it the sections left to right in signal order (the dynamics/EQ order follows the routing
//! switch), each with its bypass, then the meters: input, gate and compressor gain reduction,
//! output.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use shared_dsp::filter::curve_db;
use shared_ui::dynamics_view::gain_reduction_meter;
use shared_ui::editor::level_label;
use shared_ui::eq_view::{EqNode, EqViewAction, EqViewRange, EqViewState, eq_view};
use shared_ui::meter::{Ballistics, vertical_meter};
use shared_ui::theme;
use std::sync::Arc;
use std::time::Instant;

use crate::{ChannelStripParams, Meters, settings_from_params};

/// Editor size in logical pixels.
pub const SIZE: (u32, u32) = (1520, 720);
/// Smallest editor size in logical pixels.
pub const MIN_SIZE: (u32, u32) = (1100, 600);
/// Bottom and top of the level meters, dB.
const METER_DB: (f32, f32) = (-60.0, 6.0);
/// Gain-reduction meter scale, dB.
const GR_SCALE_DB: f32 = 24.0;
/// Gain-reduction meter fall rate, dB/s.
const GR_FALL_DB_PER_S: f32 = 20.0;

/// The editor's state on the GUI thread.
pub struct ChannelStripEditor {
    /// The plugin's parameters.
    params: Arc<ChannelStripParams>,
    /// Meter values from the audio thread.
    meters: Arc<Meters>,
    /// Input meter ballistics.
    input: Ballistics,
    /// Output meter ballistics.
    output: Ballistics,
    /// Displayed compressor and gate gain reduction, dB.
    gr: (f32, f32),
    /// EQ view selection / drag state.
    eq_state: EqViewState,
    /// Time of the previous frame.
    last_frame: Option<Instant>,
    /// Host context while the window is open.
    gui: Option<GuiContext>,
}

/// Creates the editor.
pub fn create(
    params: Arc<ChannelStripParams>,
    meters: Arc<Meters>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<ChannelStripEditor>> {
    let app = ChannelStripEditor {
        params,
        meters,
        input: Ballistics::default(),
        output: Ballistics::default(),
        gr: (0.0, 0.0),
        eq_state: EqViewState::default(),
        last_frame: None,
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Postmix Channel Strip"),
        app,
    )
}

/// Editor state at [`SIZE`], 1x zoom.
pub fn default_state() -> Arc<EguiEditorState> {
    shared_ui::editor::state_with_size(SIZE.0 as f64, SIZE.1 as f64)
}

/// One slider row in a grid with a short label (the full name is the hover text).
fn row<P: Param>(ui: &mut egui::Ui, setter: &ParamSetter, label: &str, param: &P) {
    ui.label(label).on_hover_text(param.name());
    ui.add(ParamSlider::for_param(param, setter).with_width(64.0));
    ui.end_row();
}

/// A section: a titled column with its bypass first.
fn section(
    ui: &mut egui::Ui,
    setter: &ParamSetter,
    title: &str,
    bypass: Option<&BoolParam>,
    body: impl FnOnce(&mut egui::Ui),
) {
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            ui.strong(title);
            if let Some(b) = bypass {
                let on = !b.value();
                let text = egui::RichText::new(if on { "IN" } else { "OUT" }).color(if on {
                    theme::ACCENT
                } else {
                    egui::Color32::GRAY
                });
                if ui.selectable_label(on, text).clicked() {
                    setter.begin_set_parameter(b);
                    setter.set_parameter(b, on);
                    setter.end_set_parameter(b);
                }
            }
        });
        egui::Grid::new(title).num_columns(2).show(ui, body);
    });
}

impl ChannelStripEditor {
    /// Applies the EQ view's actions to the band parameters.
    fn eq_actions(&self, setter: &ParamSetter, actions: &[EqViewAction]) {
        let p = &self.params;
        let bands = [
            (&p.lf_hz, &p.lf_gain_db, &p.lf_q),
            (&p.lmf_hz, &p.lmf_gain_db, &p.lmf_q),
            (&p.hmf_hz, &p.hmf_gain_db, &p.hmf_q),
            (&p.hf_hz, &p.hf_gain_db, &p.hf_q),
        ];
        for a in actions {
            match *a {
                EqViewAction::BeginDrag(b) if b < 4 => {
                    setter.begin_set_parameter(bands[b].0);
                    setter.begin_set_parameter(bands[b].1);
                }
                EqViewAction::Move {
                    band,
                    freq_hz,
                    gain_db,
                } if band < 4 => {
                    setter.set_parameter(bands[band].0, freq_hz);
                    setter.set_parameter(bands[band].1, gain_db);
                }
                EqViewAction::EndDrag(b) if b < 4 => {
                    setter.end_set_parameter(bands[b].0);
                    setter.end_set_parameter(bands[b].1);
                }
                EqViewAction::SetQ { band, q } if band < 4 => {
                    let param = bands[band].2;
                    setter.begin_set_parameter(param);
                    setter.set_parameter(param, q);
                    setter.end_set_parameter(param);
                }
                // Four fixed bands: nothing to add or remove.
                _ => {}
            }
        }
    }
}

impl NiceEguiApp for ChannelStripEditor {
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
        let Some(gui) = self.gui.clone() else { return };
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = self.last_frame.map_or(0.0, |t| (now - t).as_secs_f32());
        self.last_frame = Some(now);
        let (in_db, in_hold) = self.input.update(self.meters.input.take(), dt);
        let (out_db, out_hold) = self.output.update(self.meters.output.take(), dt);
        let comp = self.meters.comp_gr_db.take();
        let gate = self.meters.gate_gr_db.take();
        self.gr.0 = comp.max(self.gr.0 - GR_FALL_DB_PER_S * dt);
        self.gr.1 = gate.max(self.gr.1 - GR_FALL_DB_PER_S * dt);
        let gr = self.gr;

        let params = self.params.clone();
        let p = &*params;
        let s = settings_from_params(p);
        let mut bands = Vec::with_capacity(6);
        if !s.filters_bypass {
            bands.extend(s.filter_bands());
        }
        let eq_audible = !s.eq_bypass && !s.eq_to_sidechain;
        if eq_audible {
            bands.extend(s.eq_bands());
        }
        let eq = [s.lf, s.lmf, s.hmf, s.hf];
        let nodes: Vec<EqNode> = eq
            .iter()
            .enumerate()
            .map(|(i, b)| EqNode {
                band: i,
                freq_hz: b.freq_hz,
                gain_db: b.gain_db,
                q: b.q,
                has_gain: true,
            })
            .collect();

        let mut actions = Vec::new();
        ResizableWindow::new("channel-strip")
            .min_size(egui::vec2(MIN_SIZE.0 as f32, MIN_SIZE.1 as f32))
            .show(ui, |ui| {
                egui::Panel::right("meters")
                    .resizable(false)
                    .show(ui, |ui| {
                        let h = (ui.available_height() - 48.0).max(60.0);
                        ui.horizontal(|ui| {
                            ui.vertical(|ui| {
                                ui.label("In");
                                vertical_meter(
                                    ui,
                                    egui::vec2(16.0, h),
                                    in_db,
                                    in_hold,
                                    METER_DB.0,
                                    METER_DB.1,
                                );
                                ui.label(level_label(in_hold));
                            });
                            ui.vertical(|ui| {
                                ui.label("Gate");
                                gain_reduction_meter(
                                    ui,
                                    egui::vec2(16.0, h),
                                    gr.1,
                                    gr.1,
                                    GR_SCALE_DB,
                                );
                                ui.label(format!("{:.1}", gr.1));
                            });
                            ui.vertical(|ui| {
                                ui.label("Comp");
                                gain_reduction_meter(
                                    ui,
                                    egui::vec2(16.0, h),
                                    gr.0,
                                    gr.0,
                                    GR_SCALE_DB,
                                );
                                ui.label(format!("{:.1}", gr.0));
                            });
                            ui.vertical(|ui| {
                                ui.label("Out");
                                vertical_meter(
                                    ui,
                                    egui::vec2(16.0, h),
                                    out_db,
                                    out_hold,
                                    METER_DB.0,
                                    METER_DB.1,
                                );
                                ui.label(level_label(out_hold));
                            });
                        });
                    });
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.heading("Postmix Channel Strip");
                        ui.add_space(16.0);
                        ui.label(if s.eq_to_sidechain {
                            "EQ in compressor sidechain (not heard)"
                        } else if eq_audible {
                            "Filters + EQ response"
                        } else {
                            "EQ bypassed"
                        });
                    });
                    let w = ui.available_width();
                    let range = EqViewRange {
                        min_hz: 10.0,
                        max_hz: 30_000.0,
                        db_range: 18.0,
                        q_min: crate::Q_RANGE.0,
                        q_max: crate::Q_RANGE.1,
                        ..EqViewRange::default()
                    };
                    let curve = |f: f32| curve_db(&bands, f as f64) as f32;
                    actions = eq_view(
                        ui,
                        &mut self.eq_state,
                        egui::vec2(w, 170.0),
                        &range,
                        &curve,
                        &nodes,
                        &[],
                    );
                    ui.add_space(6.0);
                    egui::ScrollArea::both().show(ui, |ui| {
                        ui.horizontal_top(|ui| {
                            ui.vertical(|ui| {
                                section(ui, &setter, "Input", None, |ui| {
                                    row(ui, &setter, "Trim", &p.trim);
                                    row(ui, &setter, "Inv L", &p.invert_left);
                                    row(ui, &setter, "Inv R", &p.invert_right);
                                });
                                ui.add_space(12.0);
                                section(ui, &setter, "Filters", Some(&p.filters_bypass), |ui| {
                                    row(ui, &setter, "HPF", &p.hpf_slope);
                                    row(ui, &setter, "HPF Hz", &p.hpf_hz);
                                    row(ui, &setter, "LPF", &p.lpf_slope);
                                    row(ui, &setter, "LPF Hz", &p.lpf_hz);
                                });
                            });
                            ui.separator();
                            let eq_section = |ui: &mut egui::Ui| {
                                section(ui, &setter, "EQ", Some(&p.eq_bypass), |ui| {
                                    row(ui, &setter, "LF", &p.lf_shape);
                                    row(ui, &setter, "LF Hz", &p.lf_hz);
                                    row(ui, &setter, "LF dB", &p.lf_gain_db);
                                    row(ui, &setter, "LF Q", &p.lf_q);
                                    row(ui, &setter, "LMF Hz", &p.lmf_hz);
                                    row(ui, &setter, "LMF dB", &p.lmf_gain_db);
                                    row(ui, &setter, "LMF Q", &p.lmf_q);
                                });
                                ui.separator();
                                section(ui, &setter, "HMF / HF", None, |ui| {
                                    row(ui, &setter, "HMF Hz", &p.hmf_hz);
                                    row(ui, &setter, "HMF dB", &p.hmf_gain_db);
                                    row(ui, &setter, "HMF Q", &p.hmf_q);
                                    row(ui, &setter, "HF", &p.hf_shape);
                                    row(ui, &setter, "HF Hz", &p.hf_hz);
                                    row(ui, &setter, "HF dB", &p.hf_gain_db);
                                    row(ui, &setter, "HF Q", &p.hf_q);
                                });
                            };
                            let dyn_section = |ui: &mut egui::Ui| {
                                section(ui, &setter, "Gate", Some(&p.gate_bypass), |ui| {
                                    row(ui, &setter, "Mode", &p.gate_mode);
                                    row(ui, &setter, "Thresh", &p.gate_threshold_db);
                                    row(ui, &setter, "Range", &p.gate_range_db);
                                    row(ui, &setter, "Ratio", &p.gate_ratio);
                                    row(ui, &setter, "Attack", &p.gate_attack_ms);
                                    row(ui, &setter, "Hold", &p.gate_hold_ms);
                                    row(ui, &setter, "Release", &p.gate_release_ms);
                                    row(ui, &setter, "Hyst", &p.gate_hysteresis_db);
                                    row(ui, &setter, "Key Flt", &p.key_filter);
                                    row(ui, &setter, "Key HP", &p.key_hpf_hz);
                                    row(ui, &setter, "Key LP", &p.key_lpf_hz);
                                    row(ui, &setter, "Ext Key", &p.key_external);
                                    row(ui, &setter, "Listen", &p.key_listen);
                                });
                                ui.separator();
                                section(ui, &setter, "Compressor", Some(&p.comp_bypass), |ui| {
                                    row(ui, &setter, "Thresh", &p.comp_threshold_db);
                                    row(ui, &setter, "Ratio", &p.comp_ratio_step);
                                    row(ui, &setter, "Atk Mode", &p.comp_attack_mode);
                                    row(ui, &setter, "Attack", &p.comp_attack_ms);
                                    row(ui, &setter, "Release", &p.comp_release_ms);
                                    row(ui, &setter, "Auto Rel", &p.comp_auto_release);
                                    row(ui, &setter, "Knee", &p.comp_knee_db);
                                    row(ui, &setter, "Auto Gain", &p.comp_auto_makeup);
                                    row(ui, &setter, "Mix", &p.comp_mix);
                                    row(ui, &setter, "EQ > SC", &p.eq_to_sidechain);
                                });
                            };
                            if p.dynamics_first.value() {
                                dyn_section(ui);
                                ui.separator();
                                eq_section(ui);
                            } else {
                                eq_section(ui);
                                ui.separator();
                                dyn_section(ui);
                            }
                            ui.separator();
                            ui.vertical(|ui| {
                                section(ui, &setter, "Saturation", Some(&p.sat_bypass), |ui| {
                                    row(ui, &setter, "Drive", &p.sat_drive_db);
                                    row(ui, &setter, "Char", &p.sat_character);
                                });
                                ui.add_space(12.0);
                                section(ui, &setter, "Output", None, |ui| {
                                    row(ui, &setter, "Dyn Pre", &p.dynamics_first);
                                    row(ui, &setter, "Width", &p.width);
                                    row(ui, &setter, "Pan", &p.pan);
                                    row(ui, &setter, "Output", &p.output.output_gain);
                                    row(ui, &setter, "Bypass", &p.output.bypass);
                                });
                            });
                        });
                    });
                });
            });
        self.eq_actions(&setter, &actions);
        // Meters move while audio plays: keep repainting at display rate.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
        self.last_frame = None;
    }
}
