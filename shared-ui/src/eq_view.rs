//! The interactive EQ curve: a log-frequency / dB plot with the summed curve, per-band nodes,
//! optional analyzer spectra behind it, and mouse editing.
//!
//! Interaction (the widget reports [`EqViewAction`]s; the caller applies them to its
//! parameters, so the widget is reusable by any plugin with bands):
//! - drag a node: frequency (x) and gain (y, for shapes with gain);
//! - mouse wheel over a node (or the selected one): Q;
//! - double-click on empty space: add a band there; double-click or right-click on a node:
//!   remove it;
//! - click a node: select it.

use egui::{Align2, Color32, FontId, Pos2, Sense, Shape, Stroke, Ui, Vec2, pos2};

use crate::spectrum::SpectrumAnalyzer;
use crate::theme;

/// One band as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EqNode {
    /// Index the caller knows the band by.
    pub band: usize,
    /// Frequency, Hz.
    pub freq_hz: f32,
    /// Gain, dB (drawn at 0 dB for shapes without gain).
    pub gain_db: f32,
    /// Q.
    pub q: f32,
    /// Whether dragging vertically changes the gain.
    pub has_gain: bool,
}

/// What the user did in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EqViewAction {
    /// A drag of `band` started (begin a parameter gesture).
    BeginDrag(usize),
    /// `band` moved to this frequency and gain.
    Move {
        /// Band index.
        band: usize,
        /// New frequency, Hz.
        freq_hz: f32,
        /// New gain, dB (ignore for shapes without gain).
        gain_db: f32,
    },
    /// The drag of `band` ended (end the gesture).
    EndDrag(usize),
    /// New Q for `band` (mouse wheel).
    SetQ {
        /// Band index.
        band: usize,
        /// New Q.
        q: f32,
    },
    /// Add a band at this frequency and gain (double-click on empty space).
    Add {
        /// Frequency, Hz.
        freq_hz: f32,
        /// Gain, dB.
        gain_db: f32,
    },
    /// Remove (switch off) `band`.
    Remove(usize),
    /// `band` was clicked.
    Select(usize),
}

/// Axes of the view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EqViewRange {
    /// Lowest frequency on the x axis, Hz.
    pub min_hz: f32,
    /// Highest frequency on the x axis, Hz.
    pub max_hz: f32,
    /// The y axis spans `-db_range..=db_range` dB.
    pub db_range: f32,
    /// Spectrum level at the top of the plot, dBFS (spans `spectrum_span_db` down).
    pub spectrum_top_db: f32,
    /// Spectrum span, dB.
    pub spectrum_span_db: f32,
    /// Q limits for the wheel.
    pub q_min: f32,
    /// Q limits for the wheel.
    pub q_max: f32,
}

impl Default for EqViewRange {
    fn default() -> Self {
        Self {
            min_hz: 10.0,
            max_hz: 30_000.0,
            db_range: 18.0,
            spectrum_top_db: 0.0,
            spectrum_span_db: 90.0,
            q_min: 0.1,
            q_max: 40.0,
        }
    }
}

/// State the view keeps between frames.
#[derive(Debug, Clone, Default)]
pub struct EqViewState {
    /// Band being dragged.
    dragging: Option<usize>,
    /// Band last clicked or dragged.
    pub selected: Option<usize>,
}

/// A spectrum to draw behind the curve.
pub struct SpectrumLayer<'a> {
    /// The analyzer.
    pub analyzer: &'a SpectrumAnalyzer,
    /// Its sample rate, Hz.
    pub sample_rate: f32,
    /// Colour.
    pub colour: Color32,
    /// Filled area (else a line).
    pub fill: bool,
}

/// Node hit radius, logical pixels.
const HIT_RADIUS: f32 = 9.0;

/// Colour of band `i`'s node (a fixed palette).
pub fn band_colour(i: usize) -> Color32 {
    const PALETTE: [Color32; 8] = [
        Color32::from_rgb(0xef, 0x53, 0x50),
        Color32::from_rgb(0xff, 0xa7, 0x26),
        Color32::from_rgb(0xff, 0xee, 0x58),
        Color32::from_rgb(0x66, 0xbb, 0x6a),
        Color32::from_rgb(0x26, 0xc6, 0xda),
        Color32::from_rgb(0x42, 0xa5, 0xf5),
        Color32::from_rgb(0xab, 0x47, 0xbc),
        Color32::from_rgb(0xec, 0x40, 0x7a),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Draws the view in a `size` area and returns the user's actions.
///
/// `curve_db(f)` is the summed curve to draw (dB at `f` Hz); `nodes` are the active bands.
pub fn eq_view(
    ui: &mut Ui,
    state: &mut EqViewState,
    size: Vec2,
    range: &EqViewRange,
    curve_db: &dyn Fn(f32) -> f32,
    nodes: &[EqNode],
    spectra: &[SpectrumLayer<'_>],
) -> Vec<EqViewAction> {
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    let (l0, l1) = (range.min_hz.log10(), range.max_hz.log10());
    let x_of = |f: f32| rect.left() + rect.width() * (f.max(1e-3).log10() - l0) / (l1 - l0);
    let f_of = |x: f32| 10f32.powf(l0 + (l1 - l0) * (x - rect.left()) / rect.width());
    let y_of = |db: f32| rect.center().y - rect.height() * 0.5 * db / range.db_range;
    let db_of = |y: f32| (rect.center().y - y) / (rect.height() * 0.5) * range.db_range;

    // Background and grid.
    painter.rect_filled(rect, 3.0, Color32::from_gray(16));
    let grid = Stroke::new(1.0, Color32::from_gray(40));
    let label = FontId::proportional(10.0);
    for decade in [10.0f32, 100.0, 1000.0, 10_000.0] {
        for m in 1..10 {
            let f = decade * m as f32;
            if f < range.min_hz || f > range.max_hz {
                continue;
            }
            let x = x_of(f);
            painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], grid);
            if matches!(m, 1 | 2 | 5) {
                let text = if f >= 1000.0 {
                    format!("{}k", f / 1000.0)
                } else {
                    format!("{f}")
                };
                painter.text(
                    pos2(x + 2.0, rect.bottom() - 2.0),
                    Align2::LEFT_BOTTOM,
                    text,
                    label.clone(),
                    Color32::GRAY,
                );
            }
        }
    }
    let step = if range.db_range > 12.0 { 6.0 } else { 3.0 };
    let mut db = -range.db_range + (range.db_range % step);
    while db <= range.db_range {
        let y = y_of(db);
        let stroke = if db == 0.0 {
            Stroke::new(1.0, Color32::from_gray(80))
        } else {
            grid
        };
        painter.line_segment([pos2(rect.left(), y), pos2(rect.right(), y)], stroke);
        painter.text(
            pos2(rect.right() - 2.0, y),
            Align2::RIGHT_BOTTOM,
            format!("{db:+}"),
            label.clone(),
            Color32::GRAY,
        );
        db += step;
    }

    // Analyzer behind the curve.
    for s in spectra {
        s.analyzer.draw(
            &painter,
            rect,
            s.sample_rate,
            range.min_hz,
            range.max_hz,
            range.spectrum_top_db - range.spectrum_span_db,
            range.spectrum_top_db,
            s.colour,
            s.fill,
        );
    }

    // Summed curve.
    let n = (rect.width() as usize).clamp(64, 800);
    let points: Vec<Pos2> = (0..=n)
        .map(|i| {
            let x = rect.left() + rect.width() * i as f32 / n as f32;
            let y = y_of(curve_db(f_of(x))).clamp(rect.top() - 2.0, rect.bottom() + 2.0);
            pos2(x, y)
        })
        .collect();
    painter.add(Shape::line(points, Stroke::new(2.0, theme::ACCENT)));

    // Nodes.
    let node_pos = |n: &EqNode| {
        let g = if n.has_gain { n.gain_db } else { 0.0 };
        pos2(
            x_of(n.freq_hz),
            y_of(g.clamp(-range.db_range, range.db_range)),
        )
    };
    let pointer = response.hover_pos().or(response.interact_pointer_pos());
    let hit = pointer.and_then(|p| {
        nodes
            .iter()
            .map(|n| (n, node_pos(n).distance(p)))
            .filter(|(_, d)| *d <= HIT_RADIUS)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, _)| n.band)
    });
    for n in nodes {
        let p = node_pos(n);
        let colour = band_colour(n.band);
        let selected = state.selected == Some(n.band);
        let hovered = hit == Some(n.band);
        painter.circle(
            p,
            if hovered || selected { 7.0 } else { 6.0 },
            colour.gamma_multiply(0.8),
            Stroke::new(
                if selected { 2.0 } else { 1.0 },
                if selected {
                    Color32::WHITE
                } else {
                    Color32::BLACK
                },
            ),
        );
        painter.text(
            p,
            Align2::CENTER_CENTER,
            format!("{}", n.band + 1),
            FontId::proportional(9.0),
            Color32::BLACK,
        );
    }

    // Interaction.
    let mut actions = Vec::new();
    let clamp_f = |f: f32| f.clamp(range.min_hz, range.max_hz);
    let clamp_db = |d: f32| d.clamp(-range.db_range, range.db_range);
    if response.drag_started()
        && let Some(b) = hit
    {
        state.dragging = Some(b);
        state.selected = Some(b);
        actions.push(EqViewAction::BeginDrag(b));
        actions.push(EqViewAction::Select(b));
    }
    if let (Some(b), Some(p)) = (state.dragging, response.interact_pointer_pos())
        && response.dragged()
    {
        actions.push(EqViewAction::Move {
            band: b,
            freq_hz: clamp_f(f_of(p.x.clamp(rect.left(), rect.right()))),
            gain_db: clamp_db(db_of(p.y)),
        });
    }
    if response.drag_stopped()
        && let Some(b) = state.dragging.take()
    {
        actions.push(EqViewAction::EndDrag(b));
    }
    if response.clicked()
        && let Some(b) = hit
    {
        state.selected = Some(b);
        actions.push(EqViewAction::Select(b));
    }
    if response.double_clicked() {
        match hit {
            Some(b) => actions.push(EqViewAction::Remove(b)),
            None => {
                if let Some(p) = response.interact_pointer_pos() {
                    actions.push(EqViewAction::Add {
                        freq_hz: clamp_f(f_of(p.x)),
                        gain_db: clamp_db(db_of(p.y)),
                    });
                }
            }
        }
    }
    if response.secondary_clicked()
        && let Some(b) = hit
    {
        actions.push(EqViewAction::Remove(b));
    }
    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        let target = hit.or(state.selected);
        if scroll != 0.0
            && let Some(b) = target
            && let Some(n) = nodes.iter().find(|n| n.band == b)
        {
            // One wheel notch (~50 px) changes Q by about a sixth of an octave's worth (x1.12).
            let q = (n.q * 1.0023f32.powf(scroll)).clamp(range.q_min, range.q_max);
            actions.push(EqViewAction::SetQ { band: b, q });
        }
    }
    if let Some(b) = hit.or(state.dragging)
        && let Some(n) = nodes.iter().find(|n| n.band == b)
    {
        let text = format!(
            "{}: {:.0} Hz  {:+.1} dB  Q {:.2}",
            b + 1,
            n.freq_hz,
            n.gain_db,
            n.q
        );
        painter.text(
            rect.left_top() + egui::vec2(6.0, 4.0),
            Align2::LEFT_TOP,
            text,
            FontId::proportional(12.0),
            Color32::WHITE,
        );
    }
    actions
}
