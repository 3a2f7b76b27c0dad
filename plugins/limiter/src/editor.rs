//! The limiter's editor: input, gain-reduction and output meters, the gain-reduction history over
//! the waveform, output loudness (short-term, integrated) and true peak, the latency, loudness
//! targeting (target and Learn) and every control.
//!
//! Learn lives here: while it is on, the audio thread measures the integrated loudness of the
//! input before the input gain, and the editor sets the Input Gain parameter (through the host,
//! as one gesture, at most twice a second) so that the output reaches the target:
//! `gain = target - measured`, clamped to 0..+24 dB. Setting the parameter from the editor keeps
//! automation, the saved state and the host's display in agreement with what is heard (nice-plug
//! offers no clean way to set a parameter from the audio thread). Learn stops when the editor
//! closes.
//!
//! The output loudness / true-peak meter runs only while the editor is open (it costs about a
//! third of the limiter's CPU time and only the editor reads it): integrated loudness and the
//! true-peak hold count from when the editor opened, or from Reset.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use shared_dsp::util::{db_to_gain, gain_to_db};
use shared_ui::dynamics_view::gain_reduction_meter;
use shared_ui::editor::{level_label, set_param as set};
use shared_ui::limiter_view::WaveGrHistory;
use shared_ui::meter::{Ballistics, vertical_meter};
use shared_ui::theme;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::{INPUT_GAIN_MAX_DB, LimiterParams, Meters};

/// Editor size in logical pixels.
pub const SIZE: (u32, u32) = (860, 600);
/// Frames of history (about 5 s at 60 fps).
const HISTORY_FRAMES: usize = 300;
/// Bottom of the level meters and the waveform, dB.
const LEVEL_MIN_DB: f32 = -48.0;
/// Top of the level meters, dB.
const LEVEL_MAX_DB: f32 = 3.0;
/// Gain-reduction meter and history scale, dB.
const GR_SCALE_DB: f32 = 24.0;
/// Shortest interval between two input-gain updates while learning, in seconds.
const LEARN_UPDATE_S: f32 = 0.5;
/// Smallest input-gain change Learn applies, in dB.
const LEARN_STEP_DB: f32 = 0.05;

/// The editor's state on the GUI thread.
pub struct LimiterEditor {
    /// The plugin's parameters.
    params: Arc<LimiterParams>,
    /// Meter values from the audio thread.
    meters: Arc<Meters>,
    /// Input meter ballistics.
    input: Ballistics,
    /// Output meter ballistics.
    output: Ballistics,
    /// Gain-reduction hold (dB) and its remaining time (s).
    gr_hold: (f32, f32),
    /// Waveform and gain-reduction history, one frame per repaint.
    history: WaveGrHistory,
    /// Learn is on.
    learning: bool,
    /// Seconds since Learn last changed the input gain.
    since_learn_update: f32,
    /// Time of the previous frame.
    last_frame: Option<Instant>,
    /// Host context while the window is open.
    gui: Option<GuiContext>,
}

/// Creates the editor.
pub fn create(
    params: Arc<LimiterParams>,
    meters: Arc<Meters>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<LimiterEditor>> {
    let app = LimiterEditor {
        params,
        meters,
        input: Ballistics::default(),
        output: Ballistics::default(),
        gr_hold: (0.0, 0.0),
        history: WaveGrHistory::new(HISTORY_FRAMES),
        learning: false,
        since_learn_update: 0.0,
        last_frame: None,
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Postmix Limiter"),
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
    ui.add(ParamSlider::for_param(param, setter).with_width(120.0));
    ui.end_row();
}

/// A loudness or peak value with one decimal, "--" when there is none.
fn value_label(v: f32, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:.1} {unit}")
    } else {
        format!("-- {unit}")
    }
}

/// A signed distance to the target, "--" when there is none.
fn distance_label(v: f32) -> String {
    if v.is_finite() {
        format!("{v:+.1} LU")
    } else {
        "-- LU".to_owned()
    }
}

impl LimiterEditor {
    /// While learning: moves the input gain towards `target - learned` (see the module docs).
    fn learn_step(&mut self, setter: &ParamSetter, dt: f32) {
        self.since_learn_update += dt;
        if !self.learning || self.since_learn_update < LEARN_UPDATE_S {
            return;
        }
        let learned = self.meters.learned_lufs.load(Ordering::Relaxed);
        if !learned.is_finite() {
            return;
        }
        let p = &self.params;
        let want_db = (p.target_lufs() - learned).clamp(0.0, INPUT_GAIN_MAX_DB);
        let now_db = gain_to_db(p.input_gain.value());
        if (want_db - now_db).abs() >= LEARN_STEP_DB {
            set(setter, &p.input_gain, db_to_gain(want_db));
            self.since_learn_update = 0.0;
        }
    }

    fn set_learning(&mut self, on: bool) {
        self.learning = on;
        if on {
            self.meters.learn_reset.store(true, Ordering::Relaxed);
            self.since_learn_update = LEARN_UPDATE_S;
        }
        self.meters.learning.store(on, Ordering::Relaxed);
    }
}

impl NiceEguiApp for LimiterEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        theme::apply(&egui_ctx);
        self.gui = Some(nice_gui_ctx);
        self.meters.editor_open.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.clone() else { return };
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = self.last_frame.map_or(0.0, |t| (now - t).as_secs_f32());
        self.last_frame = Some(now);
        let m = self.meters.clone();

        let (in_db, in_hold) = self.input.update(m.input.take(), dt);
        let (out_peak, lim_in_peak) = (m.output.take(), m.limiter_input.take());
        let (out_db, out_hold) = self.output.update(out_peak, dt);
        let gr = m.gain_reduction_db.take();
        self.history.push(lim_in_peak, out_peak, gr);
        if gr >= self.gr_hold.0 || self.gr_hold.1 <= 0.0 {
            self.gr_hold = (gr, Ballistics::HOLD_S);
        } else {
            self.gr_hold.1 -= dt;
        }
        self.learn_step(&setter, dt);

        let p = self.params.clone();
        let target = p.target_lufs();
        let short_term = m.short_term_lufs.load(Ordering::Relaxed);
        let integrated = m.integrated_lufs.load(Ordering::Relaxed);
        let true_peak = m.true_peak_db.load(Ordering::Relaxed);
        let learned = m.learned_lufs.load(Ordering::Relaxed);
        let latency = m.latency_samples.load(Ordering::Relaxed);
        let fs = m.sample_rate.load(Ordering::Relaxed).max(1.0);
        let factor = m.oversampling.load(Ordering::Relaxed);

        egui::Panel::left("meters").resizable(false).show(ui, |ui| {
            ui.horizontal(|ui| {
                let h = (ui.available_height() - 30.0).max(60.0);
                ui.vertical(|ui| {
                    ui.label("In");
                    vertical_meter(
                        ui,
                        egui::vec2(16.0, h),
                        in_db,
                        in_hold,
                        LEVEL_MIN_DB,
                        LEVEL_MAX_DB,
                    );
                    ui.label(level_label(in_hold));
                });
                ui.vertical(|ui| {
                    ui.label("GR");
                    gain_reduction_meter(ui, egui::vec2(16.0, h), gr, self.gr_hold.0, GR_SCALE_DB);
                    ui.label(format!("{:.1}", self.gr_hold.0));
                });
                ui.vertical(|ui| {
                    ui.label("Out");
                    vertical_meter(
                        ui,
                        egui::vec2(16.0, h),
                        out_db,
                        out_hold,
                        LEVEL_MIN_DB,
                        LEVEL_MAX_DB,
                    );
                    ui.label(level_label(out_hold));
                });
            });
        });

        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Postmix Limiter");
                ui.add_space(12.0);
                ui.label(format!(
                    "Latency {:.2} ms ({latency} samples) · {factor}x",
                    latency as f32 * 1000.0 / fs
                ));
                if p.unity_gain.value() {
                    ui.add_space(12.0);
                    ui.colored_label(
                        theme::METER_MID,
                        format!(
                            "Unity listen (+{:.1} dB loudness restored)",
                            m.unity_correction_db.load(Ordering::Relaxed)
                        ),
                    );
                }
            });
            ui.separator();
            ui.horizontal(|ui| {
                let tp_unit = "dBTP";
                egui::Grid::new("readouts").num_columns(4).show(ui, |ui| {
                    ui.label("Short-term");
                    ui.strong(value_label(short_term, "LUFS"));
                    ui.label("to target");
                    ui.strong(distance_label(short_term - target));
                    ui.end_row();
                    ui.label("Integrated");
                    ui.strong(value_label(integrated, "LUFS"));
                    ui.label("to target");
                    ui.strong(distance_label(integrated - target));
                    ui.end_row();
                    ui.label("True peak");
                    let over = true_peak.is_finite() && true_peak > p.ceiling_db.value() + 0.05;
                    let text = value_label(true_peak, tp_unit);
                    if over {
                        ui.colored_label(theme::METER_HIGH, text);
                    } else {
                        ui.strong(text);
                    }
                    if ui.button("Reset").clicked() {
                        m.output_reset.store(true, Ordering::Relaxed);
                    }
                    ui.end_row();
                });
                ui.add_space(16.0);
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.label(p.target.name());
                        ui.add(ParamSlider::for_param(&p.target, &setter).with_width(90.0));
                        ui.add(
                            ParamSlider::for_param(&p.custom_target_lufs, &setter).with_width(90.0),
                        );
                    });
                    ui.horizontal(|ui| {
                        let label = if self.learning { "Stop" } else { "Learn" };
                        if ui.selectable_label(self.learning, label).clicked() {
                            self.set_learning(!self.learning);
                        }
                        ui.label(format!(
                            "input {} -> gain {:+.1} dB",
                            value_label(learned, "LUFS"),
                            gain_to_db(p.input_gain.value())
                        ));
                    });
                });
            });
            ui.add_space(4.0);
            let w = ui.available_width().max(100.0);
            self.history.draw(
                ui,
                egui::vec2(w, 190.0),
                LEVEL_MIN_DB,
                Some(p.ceiling_db.value()),
                GR_SCALE_DB,
            );
            ui.add_space(6.0);
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.horizontal_top(|ui| {
                    egui::Grid::new("level").num_columns(2).show(ui, |ui| {
                        row(ui, &setter, &p.input_gain);
                        row(ui, &setter, &p.ceiling_db);
                        row(ui, &setter, &p.true_peak);
                        row(ui, &setter, &p.oversampling);
                        row(ui, &setter, &p.lookahead_ms);
                    });
                    ui.add_space(8.0);
                    egui::Grid::new("release").num_columns(2).show(ui, |ui| {
                        row(ui, &setter, &p.release_ms);
                        row(ui, &setter, &p.auto_release);
                        row(ui, &setter, &p.character);
                        row(ui, &setter, &p.stereo_link);
                        row(ui, &setter, &p.dc_filter);
                    });
                    ui.add_space(8.0);
                    egui::Grid::new("output").num_columns(2).show(ui, |ui| {
                        row(ui, &setter, &p.dither);
                        row(ui, &setter, &p.noise_shaping);
                        row(ui, &setter, &p.unity_gain);
                        row(ui, &setter, &p.output.output_gain);
                        row(ui, &setter, &p.output.bypass);
                    });
                });
            });
        });
        // Meters move while audio plays: keep repainting at display rate.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.set_learning(false);
        self.meters.editor_open.store(false, Ordering::Relaxed);
        self.gui = None;
        self.last_frame = None;
        self.history.clear();
    }
}
