//! Views for loudness meters: bar meters on an EBU scale, a scrolling loudness history, and large
//! numeric readouts.
//!
//! Everything is drawn in LU relative to the target (0 LU = target), so the target line and the
//! colour zones do not depend on the target; `label` callbacks turn an LU value into the text of
//! a scale mark (LU or LUFS, as the user chose).

use egui::{Align2, Color32, FontId, Pos2, Rect, RichText, Sense, Shape, Stroke, Ui, Vec2, pos2};

use crate::theme;

/// Momentary loudness colour (bar and history curve).
pub const MOMENTARY_COLOUR: Color32 = theme::ACCENT;
/// Short-term loudness colour (bar and history curve).
pub const SHORT_TERM_COLOUR: Color32 = Color32::from_rgb(0xff, 0xb7, 0x4d);
/// The target line and the on-target zone (within +/-1 LU).
pub const TARGET_COLOUR: Color32 = theme::METER_LOW;
/// Text of a reading that is not yet meaningful (e.g. LRA before 60 s).
pub const UNSTABLE_COLOUR: Color32 = Color32::from_gray(120);
/// Background of plots and bars.
const PLOT_BG: Color32 = Color32::from_gray(20);
/// Grid lines.
const GRID: Color32 = Color32::from_gray(48);

/// A scale in LU relative to the target: bottom, top, and the spacing of the marks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LuScale {
    /// Bottom of the scale, LU.
    pub min_lu: f32,
    /// Top of the scale, LU.
    pub max_lu: f32,
    /// Distance between scale marks, LU.
    pub tick_lu: f32,
}

impl LuScale {
    /// The scale's marks from bottom to top (multiples of `tick_lu`).
    pub fn ticks(&self) -> impl Iterator<Item = f32> + '_ {
        let first = (self.min_lu / self.tick_lu).ceil() as i32;
        let last = (self.max_lu / self.tick_lu).floor() as i32;
        (first..=last).map(|k| k as f32 * self.tick_lu)
    }

    /// Vertical position of `lu` in `rect` (clamped to the rect).
    pub fn y(&self, rect: Rect, lu: f32) -> f32 {
        let t = ((lu - self.min_lu) / (self.max_lu - self.min_lu)).clamp(0.0, 1.0);
        rect.bottom() - t * rect.height()
    }
}

/// Colour of a loudness level `lu` relative to the target: below the target band accent blue,
/// within +/-1 LU green, above it amber, and more than 3 LU above it red.
pub fn zone_colour(lu: f32) -> Color32 {
    if lu > 3.0 {
        theme::METER_HIGH
    } else if lu > 1.0 {
        theme::METER_MID
    } else if lu >= -1.0 {
        TARGET_COLOUR
    } else {
        theme::ACCENT.gamma_multiply(0.8)
    }
}

/// Draws a vertical scale: a mark and its `label` text every `scale.tick_lu`, right-aligned in
/// `size` (put it left of the bars).
pub fn lu_scale(ui: &mut Ui, size: Vec2, scale: LuScale, label: impl Fn(f32) -> String) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect.expand(8.0));
    let font = FontId::proportional(11.0);
    let tick_px = rect.height() * scale.tick_lu / (scale.max_lu - scale.min_lu);
    let every = (16.0 / tick_px.max(1.0)).ceil().max(1.0) as i32;
    for lu in scale.ticks() {
        if ((lu / scale.tick_lu).round() as i32) % every != 0 {
            continue;
        }
        let y = scale.y(rect, lu);
        let colour = if lu == 0.0 {
            TARGET_COLOUR
        } else {
            Color32::from_gray(170)
        };
        painter.line_segment(
            [pos2(rect.right() - 4.0, y), pos2(rect.right(), y)],
            Stroke::new(1.0, colour),
        );
        painter.text(
            pos2(rect.right() - 6.0, y),
            Align2::RIGHT_CENTER,
            label(lu),
            font.clone(),
            colour,
        );
    }
}

/// Draws a vertical loudness bar: `value_lu` as a bar coloured by [`zone_colour`], `max_lu` (the
/// maximum since reset) as a line, the target (0 LU) as a green line across, and grid marks.
/// `None` draws an empty bar. `name` is drawn under the bar.
pub fn loudness_bar(
    ui: &mut Ui,
    size: Vec2,
    scale: LuScale,
    value_lu: Option<f32>,
    max_lu: Option<f32>,
    colour: Color32,
) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, PLOT_BG);
    for lu in scale.ticks() {
        let y = scale.y(rect, lu);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.right(), y)],
            Stroke::new(1.0, GRID),
        );
    }
    if let Some(v) = value_lu.filter(|v| *v > scale.min_lu) {
        // Zones drawn bottom up so the bar shows where it crossed each boundary.
        let bounds = [scale.min_lu, -1.0, 1.0, 3.0, scale.max_lu];
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0].max(scale.min_lu), w[1].min(scale.max_lu));
            let top = v.min(hi);
            if top > lo {
                let r = Rect::from_min_max(
                    pos2(rect.left() + 3.0, scale.y(rect, top)),
                    pos2(rect.right() - 3.0, scale.y(rect, lo)),
                );
                painter.rect_filled(r, 0.0, zone_colour((lo + hi) * 0.5));
            }
        }
    }
    if let Some(m) = max_lu.filter(|m| *m > scale.min_lu) {
        let y = scale.y(rect, m);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.right(), y)],
            Stroke::new(2.0, colour),
        );
    }
    let y0 = scale.y(rect, 0.0);
    painter.line_segment(
        [pos2(rect.left(), y0), pos2(rect.right(), y0)],
        Stroke::new(1.5, TARGET_COLOUR),
    );
    painter.rect_stroke(
        rect,
        2.0,
        Stroke::new(1.0, colour.gamma_multiply(0.6)),
        egui::StrokeKind::Inside,
    );
}

/// Draws a loudness history: `points` are [momentary, short-term] in LU relative to the target,
/// oldest first, evenly spaced over `span_s` seconds and ending now (NaN = no value: the curve
/// breaks). Draws the grid of `scale` with `label` texts, the target line and a time axis.
pub fn loudness_history(
    ui: &mut Ui,
    size: Vec2,
    points: &[[f32; 2]],
    span_s: f32,
    scale: LuScale,
    label: impl Fn(f32) -> String,
) {
    let (outer, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(outer);
    let font = FontId::proportional(11.0);
    // Room for the scale labels on the left and the time axis below.
    let rect = Rect::from_min_max(
        pos2(outer.left() + 44.0, outer.top() + 4.0),
        pos2(outer.right() - 4.0, outer.bottom() - 16.0),
    );
    painter.rect_filled(rect, 2.0, PLOT_BG);
    // Label every tick while they are at least 16 px apart, else every second or third one.
    let tick_px = rect.height() * scale.tick_lu / (scale.max_lu - scale.min_lu);
    let every = (16.0 / tick_px.max(1.0)).ceil().max(1.0) as i32;
    for lu in scale.ticks() {
        let y = scale.y(rect, lu);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.right(), y)],
            Stroke::new(1.0, GRID),
        );
        if ((lu / scale.tick_lu).round() as i32) % every == 0 {
            painter.text(
                pos2(rect.left() - 4.0, y),
                Align2::RIGHT_CENTER,
                label(lu),
                font.clone(),
                Color32::from_gray(170),
            );
        }
    }
    // Time marks: about six, at round numbers of seconds.
    let step = [5.0f32, 10.0, 30.0, 60.0, 120.0]
        .into_iter()
        .find(|s| span_s / s <= 6.5)
        .unwrap_or(120.0);
    let mut t = 0.0;
    while t <= span_s + 1e-3 {
        let x = rect.right() - t / span_s * rect.width();
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(1.0, GRID),
        );
        let text = if t == 0.0 {
            "now".to_owned()
        } else if step >= 60.0 || t >= 60.0 && t % 60.0 == 0.0 {
            format!("-{} min", t / 60.0)
        } else {
            format!("-{t} s")
        };
        painter.text(
            pos2(x, rect.bottom() + 2.0),
            if t == 0.0 {
                Align2::RIGHT_TOP
            } else {
                Align2::CENTER_TOP
            },
            text,
            font.clone(),
            Color32::from_gray(170),
        );
        t += step;
    }
    let y0 = scale.y(rect, 0.0);
    painter.line_segment(
        [pos2(rect.left(), y0), pos2(rect.right(), y0)],
        Stroke::new(1.5, TARGET_COLOUR),
    );
    painter.text(
        pos2(rect.left() + 4.0, y0 - 2.0),
        Align2::LEFT_BOTTOM,
        "target",
        font.clone(),
        TARGET_COLOUR,
    );
    let n = points.len();
    if n >= 2 {
        let x_of = |i: usize| rect.left() + i as f32 / (n - 1) as f32 * rect.width();
        for (k, colour, width) in [(1, SHORT_TERM_COLOUR, 2.0), (0, MOMENTARY_COLOUR, 1.2)] {
            let mut run: Vec<Pos2> = Vec::new();
            let plot = |painter: &egui::Painter, run: &mut Vec<Pos2>| {
                if run.len() >= 2 {
                    painter.add(Shape::line(std::mem::take(run), Stroke::new(width, colour)));
                }
                run.clear();
            };
            // NOTE: at most one vertex per pixel column (the extreme of the column's values
            // alternating), so 6000 points on a narrow plot stay cheap and do not alias.
            let cols = rect.width().max(1.0) as usize;
            let per_col = n as f32 / cols as f32;
            if per_col > 1.0 {
                for c in 0..cols {
                    let a = (c as f32 * per_col) as usize;
                    let b = (((c + 1) as f32 * per_col) as usize).min(n);
                    let vals = points[a..b.max(a + 1).min(n)].iter().map(|p| p[k]);
                    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                    for v in vals.filter(|v| v.is_finite()) {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                    if lo > hi {
                        plot(&painter, &mut run);
                        continue;
                    }
                    let x = rect.left() + (c as f32 + 0.5) / cols as f32 * rect.width();
                    let v = if c % 2 == 0 { hi } else { lo };
                    run.push(pos2(x, scale.y(rect, v)));
                }
            } else {
                for (i, p) in points.iter().enumerate() {
                    if p[k].is_finite() {
                        run.push(pos2(x_of(i), scale.y(rect, p[k])));
                    } else {
                        plot(&painter, &mut run);
                    }
                }
            }
            plot(&painter, &mut run);
        }
    }
    // Legend.
    let mut x = rect.right() - 150.0;
    for (name, colour) in [("M", MOMENTARY_COLOUR), ("S", SHORT_TERM_COLOUR)] {
        painter.line_segment(
            [
                pos2(x, rect.top() + 10.0),
                pos2(x + 16.0, rect.top() + 10.0),
            ],
            Stroke::new(2.0, colour),
        );
        painter.text(
            pos2(x + 20.0, rect.top() + 10.0),
            Align2::LEFT_CENTER,
            name,
            font.clone(),
            colour,
        );
        x += 40.0;
    }
}

/// A large numeric readout: `title` above, then `value` in a large monospaced font followed by
/// `unit`, in `colour`; `note` (if any) in small grey text below.
pub fn readout(
    ui: &mut Ui,
    title: &str,
    value: &str,
    unit: &str,
    colour: Color32,
    value_size: f32,
    note: Option<&str>,
) {
    ui.vertical(|ui| {
        ui.spacing_mut().item_spacing.y = 0.0;
        ui.label(
            RichText::new(title)
                .size(12.0)
                .color(Color32::from_gray(170)),
        );
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            ui.label(
                RichText::new(value)
                    .font(FontId::monospace(value_size))
                    .color(colour),
            );
            ui.label(
                RichText::new(unit)
                    .size(13.0)
                    .color(colour.gamma_multiply(0.8)),
            );
        });
        if let Some(n) = note {
            ui.label(RichText::new(n).size(11.0).color(UNSTABLE_COLOUR));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebu9_scale_ticks_every_3_lu_from_minus_18_to_plus_9() {
        let s = LuScale {
            min_lu: -18.0,
            max_lu: 9.0,
            tick_lu: 3.0,
        };
        let t: Vec<f32> = s.ticks().collect();
        assert_eq!(t.first(), Some(&-18.0));
        assert_eq!(t.last(), Some(&9.0));
        assert_eq!(t.len(), 10);
    }

    #[test]
    fn scale_maps_bottom_and_top_to_rect_edges_and_clamps() {
        let s = LuScale {
            min_lu: -36.0,
            max_lu: 18.0,
            tick_lu: 6.0,
        };
        let r = Rect::from_min_max(pos2(0.0, 10.0), pos2(10.0, 118.0));
        assert_eq!(s.y(r, -36.0), 118.0);
        assert_eq!(s.y(r, 18.0), 10.0);
        assert_eq!(s.y(r, 0.0), 118.0 - 36.0 / 54.0 * 108.0);
        assert_eq!(s.y(r, 100.0), 10.0);
    }
}
