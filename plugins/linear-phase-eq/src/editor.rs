//! The Linear-Phase EQ's editor: the interactive curve over the pre/post analyzer, the band list,
//! the resolution selector with the latency, auto gain, output gain and the output meter.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use shared_dsp::filter::EqCurve;
use shared_ui::editor::set_param as set;
use shared_ui::eq_view::{
    EqNode, EqViewAction, EqViewRange, EqViewState, SpectrumLayer, band_colour, eq_view,
};
use shared_ui::meter::{Ballistics, vertical_meter};
use shared_ui::spectrum::SpectrumAnalyzer;
use shared_ui::theme;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::engine::{MAX_BANDS, effective_band};
use crate::{BandKind, BandParams, EditorShared, LinearPhaseEqParams, Q_DEFAULT, ResolutionParam};

/// Editor size in logical pixels.
pub const SIZE: (u32, u32) = (900, 620);
/// Analyzer FFT size.
const FFT_SIZE: usize = 8192;

/// The editor's state on the GUI thread.
pub struct EqEditor {
    /// The plugin's parameters.
    params: Arc<LinearPhaseEqParams>,
    /// Values from the audio thread.
    shared: Arc<EditorShared>,
    /// Curve view state (drag, selection).
    view: EqViewState,
    /// Analyzer of the input.
    pre: SpectrumAnalyzer,
    /// Analyzer of the output.
    post: SpectrumAnalyzer,
    /// Show the analyzer.
    analyzer_on: bool,
    /// Output meter ballistics.
    meter: Ballistics,
    /// Curve of the current bands (rebuilt each frame, reused allocation).
    curve: EqCurve,
    /// Time of the previous frame.
    last_frame: Option<Instant>,
    /// Host context while the window is open.
    gui: Option<GuiContext>,
}

/// Creates the editor.
pub fn create(
    params: Arc<LinearPhaseEqParams>,
    shared: Arc<EditorShared>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<EqEditor>> {
    let app = EqEditor {
        params,
        shared,
        view: EqViewState::default(),
        pre: SpectrumAnalyzer::new(FFT_SIZE),
        post: SpectrumAnalyzer::new(FFT_SIZE),
        analyzer_on: true,
        meter: Ballistics::default(),
        curve: EqCurve::new(MAX_BANDS),
        last_frame: None,
        gui: None,
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Postmix Linear-Phase EQ"),
        app,
    )
}

/// Editor state at [`SIZE`], 1x zoom.
pub fn default_state() -> Arc<EguiEditorState> {
    shared_ui::editor::state_with_size(SIZE.0 as f64, SIZE.1 as f64)
}

/// A combo box over an enum parameter.
fn enum_combo<T: Enum + PartialEq + Copy + 'static>(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug,
    setter: &ParamSetter,
    param: &EnumParam<T>,
    width: f32,
) {
    let current = param.value();
    let names = T::variants();
    egui::ComboBox::from_id_salt(id)
        .width(width)
        .selected_text(names[current.to_index()])
        .show_ui(ui, |ui| {
            for (i, name) in names.iter().enumerate() {
                let v = T::from_index(i);
                if ui.selectable_label(v == current, *name).clicked() && v != current {
                    set(setter, param, v);
                }
            }
        });
}

/// One row of the band list.
/// The editor's accuracy readout for a kernel deviation (`db` < 0: zero-latency path, none):
/// the text and whether it warns (over [`DEVIATION_WARN_DB`]).
pub fn deviation_label(db: f32, hz: f32) -> Option<(String, bool)> {
    if db.is_nan() || db < 0.0 {
        return None;
    }
    if db <= DEVIATION_WARN_DB {
        Some((format!("curve within {db:.2} dB"), false))
    } else {
        let at = if hz >= 1000.0 {
            format!("{:.1} kHz", hz / 1000.0)
        } else {
            format!("{hz:.0} Hz")
        };
        Some((format!("curve off by {db:.1} dB at {at}"), true))
    }
}

/// Deviation from the curve above which the editor warns, dB (the accuracy the linear-phase
/// modes are specified to).
pub const DEVIATION_WARN_DB: f32 = 0.1;

fn band_row(ui: &mut egui::Ui, setter: &ParamSetter, i: usize, b: &BandParams, selected: bool) {
    let label = egui::RichText::new(format!("{:>2}", i + 1)).color(band_colour(i));
    let label = if selected { label.strong() } else { label };
    ui.label(label);
    let mut on = b.enabled.value();
    if ui.checkbox(&mut on, "").changed() {
        set(setter, &b.enabled, on);
    }
    enum_combo(ui, ("type", i), setter, &b.kind, 90.0);
    ui.add(ParamSlider::for_param(&b.freq_hz, setter).with_width(90.0));
    if b.kind.value().has_gain() {
        ui.add(ParamSlider::for_param(&b.gain_db, setter).with_width(80.0));
    } else {
        ui.label("");
    }
    ui.add(ParamSlider::for_param(&b.q, setter).with_width(70.0));
    if b.kind.value().has_slope() {
        enum_combo(ui, ("slope", i), setter, &b.slope, 80.0);
    } else {
        ui.label("");
    }
    enum_combo(ui, ("place", i), setter, &b.placement, 70.0);
    ui.end_row();
}

impl EqEditor {
    /// Applies the curve view's actions to the parameters.
    fn apply(&mut self, setter: &ParamSetter, actions: &[EqViewAction]) {
        let bands = &self.params.bands.0;
        for a in actions {
            match *a {
                EqViewAction::BeginDrag(i) => {
                    setter.begin_set_parameter(&bands[i].freq_hz);
                    setter.begin_set_parameter(&bands[i].gain_db);
                }
                EqViewAction::Move {
                    band,
                    freq_hz,
                    gain_db,
                } => {
                    let b = &bands[band];
                    setter.set_parameter(&b.freq_hz, freq_hz);
                    if b.kind.value().has_gain() {
                        setter.set_parameter(&b.gain_db, gain_db);
                    }
                }
                EqViewAction::EndDrag(i) => {
                    setter.end_set_parameter(&bands[i].freq_hz);
                    setter.end_set_parameter(&bands[i].gain_db);
                }
                EqViewAction::SetQ { band, q } => set(setter, &bands[band].q, q),
                EqViewAction::Add { freq_hz, gain_db } => {
                    if let Some((i, b)) = bands.iter().enumerate().find(|(_, b)| !b.enabled.value())
                    {
                        set(setter, &b.kind, BandKind::Bell);
                        set(setter, &b.freq_hz, freq_hz);
                        set(setter, &b.gain_db, gain_db);
                        set(setter, &b.q, Q_DEFAULT);
                        set(setter, &b.enabled, true);
                        self.view.selected = Some(i);
                    }
                }
                EqViewAction::Remove(i) => {
                    set(setter, &bands[i].enabled, false);
                    if self.view.selected == Some(i) {
                        self.view.selected = None;
                    }
                }
                EqViewAction::Select(i) => self.view.selected = Some(i),
            }
        }
    }
}

impl NiceEguiApp for EqEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        theme::apply(&egui_ctx);
        self.gui = Some(nice_gui_ctx);
        self.shared.analyzer_wanted.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.clone() else { return };
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = self.last_frame.map_or(0.0, |t| (now - t).as_secs_f32());
        self.last_frame = Some(now);
        let fs = self.shared.sample_rate.load(Ordering::Relaxed);
        let latency = self.shared.latency.load(Ordering::Relaxed);
        let (level, hold) = self.meter.update(self.shared.output_meter.take(), dt);
        self.shared
            .analyzer_wanted
            .store(self.analyzer_on, Ordering::Relaxed);
        if self.analyzer_on {
            self.pre.update(&self.shared.pre, dt);
            self.post.update(&self.shared.post, dt);
        }
        let p = self.params.clone();

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
            ui.horizontal(|ui| {
                ui.heading("Postmix Linear-Phase EQ");
                ui.separator();
                ui.label("Resolution");
                enum_combo(ui, "res", &setter, &p.resolution, 110.0);
                let ms = if fs > 0.0 {
                    latency as f32 * 1000.0 / fs
                } else {
                    0.0
                };
                ui.label(format!("latency {latency} samples ({ms:.1} ms)"));
                if p.resolution.value() != ResolutionParam::ZeroLatency && fs > 0.0 && latency == 0
                {
                    ui.label("(designing...)");
                }
                let dev_db = self.shared.deviation_db.load(Ordering::Relaxed);
                let dev_hz = self.shared.deviation_hz.load(Ordering::Relaxed);
                if let Some((text, warn)) = deviation_label(dev_db, dev_hz) {
                    ui.separator();
                    if warn {
                        ui.colored_label(egui::Color32::from_rgb(0xff, 0xb3, 0x00), text)
                            .on_hover_text(
                                "A kernel of this resolution cannot follow bands this narrow \
                                 at this frequency: choose a higher resolution",
                            );
                    } else {
                        ui.label(text);
                    }
                }
            });
            ui.horizontal(|ui| {
                let mut ag = p.auto_gain.value();
                if ui.checkbox(&mut ag, "Auto gain").changed() {
                    set(&setter, &p.auto_gain, ag);
                }
                let mut by = p.output.bypass.value();
                if ui.checkbox(&mut by, "Bypass").changed() {
                    set(&setter, &p.output.bypass, by);
                }
                ui.checkbox(&mut self.analyzer_on, "Analyzer");
                ui.label("Output");
                ui.add(ParamSlider::for_param(&p.output.output_gain, &setter).with_width(120.0));
            });

            // Curve of the enabled bands (clamped as the engine designs them).
            let design_fs = if fs > 0.0 { fs as f64 } else { 48_000.0 };
            let bands: Vec<_> = p
                .bands
                .0
                .iter()
                .map(|b| effective_band(&b.setting().band, design_fs))
                .collect();
            self.curve.set_bands(&bands);
            let nodes: Vec<EqNode> = p
                .bands
                .0
                .iter()
                .enumerate()
                .filter(|(_, b)| b.enabled.value())
                .map(|(i, b)| EqNode {
                    band: i,
                    freq_hz: b.freq_hz.value(),
                    gain_db: b.gain_db.value(),
                    q: b.q.value(),
                    has_gain: b.kind.value().has_gain(),
                })
                .collect();
            let mut layers = Vec::new();
            if self.analyzer_on && fs > 0.0 {
                layers.push(SpectrumLayer {
                    analyzer: &self.pre,
                    sample_rate: fs,
                    colour: egui::Color32::from_gray(60),
                    fill: true,
                });
                layers.push(SpectrumLayer {
                    analyzer: &self.post,
                    sample_rate: fs,
                    colour: egui::Color32::from_rgb(0xb0, 0xbe, 0xc5),
                    fill: false,
                });
            }
            let range = EqViewRange {
                max_hz: if fs > 0.0 {
                    (0.5 * fs).min(30_000.0)
                } else {
                    30_000.0
                },
                ..EqViewRange::default()
            };
            let curve = &self.curve;
            let w = ui.available_width();
            let actions = eq_view(
                ui,
                &mut self.view,
                egui::vec2(w, 300.0),
                &range,
                &|f| curve.magnitude_db(f as f64) as f32,
                &nodes,
                &layers,
            );
            drop(layers);
            self.apply(&setter, &actions);
            ui.label(
                "Drag a node: frequency/gain. Wheel: Q. Double-click: add band. \
                 Double/right-click a node: remove.",
            );
            ui.separator();

            // Band list: enabled bands and the selected one.
            egui::ScrollArea::vertical().show(ui, |ui| {
                egui::Grid::new("bands")
                    .num_columns(8)
                    .spacing([6.0, 4.0])
                    .show(ui, |ui| {
                        for h in ["#", "On", "Type", "Freq", "Gain", "Q", "Slope", "Place"] {
                            ui.label(h);
                        }
                        ui.end_row();
                        for (i, b) in p.bands.0.iter().enumerate() {
                            let selected = self.view.selected == Some(i);
                            if b.enabled.value() || selected {
                                band_row(ui, &setter, i, b, selected);
                            }
                        }
                    });
                if ui.button("Add band").clicked() {
                    self.apply(
                        &setter,
                        &[EqViewAction::Add {
                            freq_hz: 1000.0,
                            gain_db: 0.0,
                        }],
                    );
                }
            });
        });
        // The analyzer and meter move while audio plays: keep repainting.
        ui.ctx().request_repaint();
    }

    fn editor_closed(&mut self) {
        self.shared.analyzer_wanted.store(false, Ordering::Relaxed);
        self.gui = None;
        self.last_frame = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_label_warns_above_the_spec_only() {
        assert_eq!(deviation_label(-1.0, 0.0), None);
        assert_eq!(deviation_label(f32::NAN, 0.0), None);
        assert_eq!(
            deviation_label(0.034, 30.0),
            Some(("curve within 0.03 dB".to_string(), false))
        );
        assert_eq!(
            deviation_label(2.011, 30.0),
            Some(("curve off by 2.0 dB at 30 Hz".to_string(), true))
        );
        assert_eq!(
            deviation_label(0.35, 12_500.0),
            Some(("curve off by 0.3 dB at 12.5 kHz".to_string(), true))
        );
    }
}
