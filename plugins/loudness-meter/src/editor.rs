//! The loudness meter's editor: large readouts (M, S, I, LRA, max M, max S, true-peak max), M and
//! S bars on the EBU +9 / +18 scale, the scrolling M/S history with the target line, and the
//! controls (target preset, LUFS/LU, scale, history length, start/pause, reset, transport link).
//!
//! Everything it shows comes from [`Readings`] atomics and the history ring; its commands go
//! back through [`Readings::send`]. Resizable; legible at 1x and 2x zoom.

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use shared_ui::editor::set_param as set;
use shared_ui::loudness_view::{
    LuScale, MOMENTARY_COLOUR, SHORT_TERM_COLOUR, UNSTABLE_COLOUR, loudness_bar, loudness_history,
    lu_scale, readout,
};
use shared_ui::theme;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::params::{
    HISTORY_MAX_POINTS, HistoryLength, LoudnessMeterParams, MeterScale, ReadoutUnit, TargetPreset,
    format_loudness, format_value, one_decimal, playback_gain, playback_gain_note,
    playback_gain_text,
};
use crate::readings::{Readings, command};

/// Default editor size, logical pixels.
pub const SIZE: (u32, u32) = (860, 600);
/// Smallest size the host may resize the editor to, logical pixels.
pub const MIN_SIZE: (f32, f32) = (640.0, 460.0);
/// Text colour of ordinary readouts.
const VALUE_COLOUR: egui::Color32 = egui::Color32::from_gray(235);

/// The editor's state on the GUI thread.
pub struct LoudnessMeterEditor {
    /// The plugin's parameters.
    params: Arc<LoudnessMeterParams>,
    /// Readings and history from the audio thread; commands back to it.
    readings: Arc<Readings>,
    /// History copied out of the ring each frame ([M, S] in LUFS, then LU).
    history: Vec<[f32; 2]>,
    /// Host context while the window is open.
    gui: Option<GuiContext>,
}

/// Creates the editor.
pub fn create(
    params: Arc<LoudnessMeterParams>,
    readings: Arc<Readings>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<LoudnessMeterEditor>> {
    let app = LoudnessMeterEditor {
        params,
        readings,
        history: Vec::with_capacity(HISTORY_MAX_POINTS),
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new()
            .with_tile("Postmix Loudness Meter")
            .with_resize_hint(
                ResizeHint::RESIZABLE
                    .with_min_logical_size(LogicalSize::new(MIN_SIZE.0, MIN_SIZE.1)),
            ),
        app,
    )
}

/// Editor state at [`SIZE`], 1x zoom.
pub fn default_state() -> Arc<EguiEditorState> {
    shared_ui::editor::state_with_size(SIZE.0 as f64, SIZE.1 as f64)
}

/// Channel names for per-channel true-peak readouts.
fn channel_names(channels: usize) -> &'static [&'static str] {
    match channels {
        1 => &["M"],
        5 => &["L", "R", "C", "Ls", "Rs"],
        6 => &["L", "R", "C", "LFE", "Ls", "Rs"],
        _ => &["L", "R"],
    }
}

/// "m:ss" for a duration.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl NiceEguiApp for LoudnessMeterEditor {
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
        let r = &self.readings;

        let preset = p.target.value();
        let target = p.target_lufs();
        let max_tp = preset.max_true_peak_dbtp();
        let unit = p.unit.value();
        let scale_param = p.scale.value();
        let (min_lu, max_lu) = scale_param.range_lu();
        let scale = LuScale {
            min_lu,
            max_lu,
            tick_lu: scale_param.tick_lu(),
        };
        let label = |lu: f32| match unit {
            ReadoutUnit::Lu if lu > 0.0 => format!("+{lu}"),
            ReadoutUnit::Lu => format!("{lu}"),
            ReadoutUnit::Lufs => format!("{}", lu + target),
        };
        let rel = |v: Option<f64>| v.map(|v| (v - target as f64) as f32);

        let momentary = r.momentary.load();
        let short_term = r.short_term.load();
        let integrated = r.integrated.load();
        let lra = r.loudness_range.load();
        let max_m = r.max_momentary.load();
        let max_s = r.max_short_term.load();
        let tp_max = r.true_peak_max.load();
        let channels = r.channels.load(Ordering::Relaxed);
        let lra_stable = r.lra_stable.load(Ordering::Relaxed);
        let running = r.running.load(Ordering::Relaxed);
        let integrated_s = r.integration_s.load().unwrap_or(0.0);

        // Controls.
        egui::Panel::top("controls").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                ui.heading("Postmix Loudness Meter");
                ui.add_space(12.0);
                ui.label("Target");
                egui::ComboBox::from_id_salt("target")
                    .width(190.0)
                    .selected_text(TargetPreset::variants()[preset.to_index()])
                    .show_ui(ui, |ui| {
                        for t in TargetPreset::ALL {
                            let text = TargetPreset::variants()[t.to_index()];
                            if ui.selectable_label(preset == t, text).clicked() {
                                set(&setter, &p.target, t);
                            }
                        }
                    });
                if preset == TargetPreset::Custom {
                    ui.add(
                        ParamSlider::for_param(&p.custom_target_lufs, &setter).with_width(110.0),
                    );
                }
                ui.label(
                    egui::RichText::new(format!(
                        "{} LUFS / {} dBTP",
                        one_decimal(target as f64, false),
                        one_decimal(max_tp as f64, false)
                    ))
                    .color(egui::Color32::from_gray(170)),
                );
            });
            ui.horizontal_wrapped(|ui| {
                let (text, cmd) = if running {
                    ("Pause", command::PAUSE)
                } else {
                    ("Start", command::START)
                };
                if ui
                    .add(egui::Button::new(text).min_size(egui::vec2(84.0, 0.0)))
                    .on_hover_text("Start or pause integration (M and S stay live)")
                    .clicked()
                {
                    r.send(cmd);
                }
                if ui
                    .button("Reset")
                    .on_hover_text("Clear integrated, LRA, the maxima and the true-peak hold")
                    .clicked()
                {
                    r.send(command::RESET);
                }
                let mut link = p.transport_link.value();
                if ui
                    .checkbox(&mut link, "Reset and run with transport")
                    .changed()
                {
                    set(&setter, &p.transport_link, link);
                }
                ui.label(
                    egui::RichText::new(if running {
                        format!("Running {}", clock(integrated_s))
                    } else {
                        format!("Paused {}", clock(integrated_s))
                    })
                    .color(if running {
                        theme::METER_LOW
                    } else {
                        theme::METER_MID
                    }),
                );
                ui.separator();
                for u in [ReadoutUnit::Lufs, ReadoutUnit::Lu] {
                    if ui.selectable_label(unit == u, u.label()).clicked() {
                        set(&setter, &p.unit, u);
                    }
                }
                ui.separator();
                for (s, name) in [(MeterScale::Ebu9, "EBU +9"), (MeterScale::Ebu18, "EBU +18")] {
                    if ui.selectable_label(scale_param == s, name).clicked() {
                        set(&setter, &p.scale, s);
                    }
                }
            });
            ui.add_space(2.0);
        });

        // Output section (bypass, output gain) at the bottom.
        egui::Panel::bottom("output").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label("History");
                let hl = p.history.value();
                for h in HistoryLength::ALL {
                    if ui.selectable_label(hl == h, h.label()).clicked() {
                        set(&setter, &p.history, h);
                    }
                }
                ui.separator();
                ui.label(p.output.bypass.name());
                ui.add(ParamSlider::for_param(&p.output.bypass, &setter).with_width(70.0));
                ui.label(p.output.output_gain.name());
                ui.add(ParamSlider::for_param(&p.output.output_gain, &setter).with_width(110.0));
            });
        });

        // M and S bars with the scale.
        egui::Panel::left("bars").resizable(false).show(ui, |ui| {
            let h = (ui.available_height() - 22.0).max(80.0);
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 6.0;
                lu_scale(ui, egui::vec2(34.0, h), scale, label);
                ui.vertical(|ui| {
                    loudness_bar(
                        ui,
                        egui::vec2(26.0, h),
                        scale,
                        rel(momentary),
                        rel(max_m),
                        MOMENTARY_COLOUR,
                    );
                    ui.label(egui::RichText::new("M").color(MOMENTARY_COLOUR));
                });
                ui.vertical(|ui| {
                    loudness_bar(
                        ui,
                        egui::vec2(26.0, h),
                        scale,
                        rel(short_term),
                        rel(max_s),
                        SHORT_TERM_COLOUR,
                    );
                    ui.label(egui::RichText::new("S").color(SHORT_TERM_COLOUR));
                });
            });
        });

        egui::CentralPanel::default().show(ui, |ui| {
            // Three columns that share the width; the numbers scale with them so the editor
            // stays legible from its minimum size up.
            let col_gap = 14.0;
            let col_w = ((ui.available_width() - 2.0 * col_gap) / 3.0).max(120.0);
            let big = (col_w / 5.6).clamp(18.0, 40.0);
            let mid = big * 0.72;
            let unit_of = |v| format_loudness(v, unit, target);
            egui::Grid::new("readouts")
                .num_columns(3)
                .min_col_width(col_w)
                .max_col_width(col_w)
                .spacing(egui::vec2(col_gap, 8.0))
                .show(ui, |ui| {
                    let (v, u) = unit_of(integrated);
                    readout(ui, "Integrated", &v, u, VALUE_COLOUR, big, None);
                    let (v, u) = unit_of(short_term);
                    readout(ui, "Short-term", &v, u, SHORT_TERM_COLOUR, big, None);
                    let (v, u) = unit_of(momentary);
                    readout(ui, "Momentary", &v, u, MOMENTARY_COLOUR, big, None);
                    ui.end_row();

                    let (lra_colour, lra_note) = if lra_stable || lra.is_none() {
                        (VALUE_COLOUR, None)
                    } else {
                        (UNSTABLE_COLOUR, Some("not yet stable (< 60 s)"))
                    };
                    readout(
                        ui,
                        "Loudness range",
                        &format_value(lra),
                        "LU",
                        lra_colour,
                        mid,
                        lra_note,
                    );
                    let (v, u) = unit_of(max_s);
                    readout(ui, "Max short-term", &v, u, SHORT_TERM_COLOUR, mid, None);
                    let (v, u) = unit_of(max_m);
                    readout(ui, "Max momentary", &v, u, MOMENTARY_COLOUR, mid, None);
                    ui.end_row();

                    let over = |tp: Option<f64>| tp.is_some_and(|t| t > max_tp as f64);
                    let tp_colour = if over(tp_max) {
                        theme::METER_HIGH
                    } else {
                        VALUE_COLOUR
                    };
                    let tp_note = over(tp_max)
                        .then(|| format!("over {} dBTP", one_decimal(max_tp as f64, false)));
                    readout(
                        ui,
                        "True peak max",
                        &format_value(tp_max),
                        "dBTP",
                        tp_colour,
                        mid,
                        tp_note.as_deref(),
                    );
                    ui.vertical(|ui| {
                        ui.label(
                            egui::RichText::new("True peak per channel")
                                .size(12.0)
                                .color(egui::Color32::from_gray(170)),
                        );
                        ui.horizontal_wrapped(|ui| {
                            for (ch, name) in channel_names(channels).iter().enumerate() {
                                let tp = r.true_peak[ch].load();
                                let c = if over(tp) {
                                    theme::METER_HIGH
                                } else {
                                    VALUE_COLOUR
                                };
                                ui.label(
                                    egui::RichText::new(format!("{name} {}", format_value(tp)))
                                        .monospace()
                                        .color(c),
                                );
                            }
                            ui.label(egui::RichText::new("dBTP").size(11.0));
                        });
                    });
                    if preset.is_streaming() {
                        let g = playback_gain(target as f64, integrated, tp_max, max_tp as f64);
                        ui.vertical(|ui| {
                            ui.label(
                                egui::RichText::new(format!(
                                    "{} normalisation",
                                    preset.short_name()
                                ))
                                .size(12.0)
                                .color(egui::Color32::from_gray(170)),
                            );
                            ui.label(
                                egui::RichText::new(playback_gain_text(g))
                                    .size(mid * 0.7)
                                    .color(theme::ACCENT),
                            );
                            if let Some(note) = playback_gain_note(g) {
                                ui.label(
                                    egui::RichText::new(note).size(11.0).color(UNSTABLE_COLOUR),
                                );
                            }
                        });
                    }
                    ui.end_row();
                });
            ui.add_space(6.0);

            // History graph in the remaining space.
            let hl = p.history.value();
            let n = hl.points();
            self.history.resize(n, [f32::NAN; 2]);
            r.history.read_latest(&mut self.history);
            for pt in &mut self.history {
                pt[0] -= target;
                pt[1] -= target;
            }
            let size = egui::vec2(ui.available_width(), ui.available_height().max(100.0));
            loudness_history(ui, size, &self.history, hl.seconds() as f32, scale, label);
        });
        // Readings move while audio plays: keep repainting at display rate.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}
