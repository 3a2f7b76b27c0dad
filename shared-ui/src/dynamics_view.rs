//! Views for dynamics processors: the static transfer curve with the operating point, a
//! gain-reduction bar meter and a scrolling gain-reduction history.
//!
//! The views draw plain numbers; the caller supplies the curve (e.g. `Dynamics::curve` or
//! `GainComputer::curve` from shared-dsp) and the gain reduction it collected from the audio
//! thread (e.g. through [`crate::meter::MeterValue`]).

use egui::{Color32, Pos2, Rect, Sense, Shape, Stroke, Ui, Vec2, pos2};

use crate::theme;

/// Gain-reduction colour (bars and history).
pub const GR_COLOUR: Color32 = Color32::from_rgb(0xff, 0x8a, 0x3d);

/// Draws the static curve `curve(input dB) -> output dB` on a square-ish grid from `min_db` to
/// `max_db` on both axes, with the 1:1 diagonal, a grid line every 10 dB, a threshold marker
/// and, when given, the operating point `(input dB, output dB)` as a dot.
pub fn transfer_curve(
    ui: &mut Ui,
    size: Vec2,
    min_db: f32,
    max_db: f32,
    threshold_db: Option<f32>,
    point: Option<(f32, f32)>,
    curve: impl Fn(f32) -> f32,
) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(20));
    let span = (max_db - min_db).max(1e-3);
    let x_of = |db: f32| rect.left() + (db - min_db) / span * rect.width();
    let y_of = |db: f32| {
        let t = ((db - min_db) / span).clamp(-0.05, 1.05);
        rect.bottom() - t * rect.height()
    };
    let grid = Stroke::new(1.0, Color32::from_gray(45));
    let mut db = (min_db / 10.0).ceil() * 10.0;
    while db <= max_db {
        painter.line_segment(
            [pos2(x_of(db), rect.top()), pos2(x_of(db), rect.bottom())],
            grid,
        );
        painter.line_segment(
            [pos2(rect.left(), y_of(db)), pos2(rect.right(), y_of(db))],
            grid,
        );
        db += 10.0;
    }
    painter.line_segment(
        [
            pos2(x_of(min_db), y_of(min_db)),
            pos2(x_of(max_db), y_of(max_db)),
        ],
        Stroke::new(1.0, Color32::from_gray(80)),
    );
    if let Some(t) = threshold_db.filter(|t| (min_db..=max_db).contains(t)) {
        painter.line_segment(
            [pos2(x_of(t), rect.top()), pos2(x_of(t), rect.bottom())],
            Stroke::new(1.0, theme::ACCENT.gamma_multiply(0.35)),
        );
    }
    let steps = (rect.width().max(2.0)) as usize;
    let pts: Vec<Pos2> = (0..=steps)
        .map(|i| {
            let x = min_db + span * i as f32 / steps as f32;
            pos2(x_of(x), y_of(curve(x)))
        })
        .collect();
    painter.add(Shape::line(pts, Stroke::new(2.0, theme::ACCENT)));
    if let Some((x, y)) = point
        && x > min_db
    {
        let p = pos2(x_of(x.min(max_db)), y_of(y));
        painter.circle_filled(p, 4.0, Color32::WHITE);
        painter.circle_stroke(p, 5.0, Stroke::new(1.0, theme::ACCENT));
    }
}

/// Draws a vertical gain-reduction bar growing down from the top: `gr_db` (>= 0) on a scale of
/// 0 to `max_gr_db`, with a tick every 3 dB (every 6 dB past 12 dB of range) and a hold line at
/// `hold_db`.
pub fn gain_reduction_meter(ui: &mut Ui, size: Vec2, gr_db: f32, hold_db: f32, max_gr_db: f32) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(20));
    let max = max_gr_db.max(1.0);
    let y_of = |db: f32| rect.top() + (db / max).clamp(0.0, 1.0) * rect.height();
    if gr_db > 0.0 {
        let r = Rect::from_min_max(
            pos2(rect.left() + 2.0, rect.top()),
            pos2(rect.right() - 2.0, y_of(gr_db)),
        );
        painter.rect_filled(r, 0.0, GR_COLOUR);
    }
    if hold_db > 0.0 {
        let y = y_of(hold_db);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.right(), y)],
            Stroke::new(2.0, Color32::WHITE),
        );
    }
    let tick = if max > 12.0 { 6.0 } else { 3.0 };
    let mut db = tick;
    while db < max {
        let y = y_of(db);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.left() + 4.0, y)],
            Stroke::new(1.0, Color32::GRAY),
        );
        db += tick;
    }
}

/// A scrolling history of gain reduction, one value per editor frame, newest at the right.
///
/// Lives on the GUI thread: push the largest gain reduction collected since the previous frame
/// (so no peak is lost), then [`GrHistory::draw`] it.
#[derive(Debug, Clone)]
pub struct GrHistory {
    /// Ring of gain-reduction values in dB (>= 0).
    values: Vec<f32>,
    /// Index of the oldest value (the next to be overwritten).
    head: usize,
}

impl GrHistory {
    /// A history of `len` frames (at least 2), all at 0 dB.
    pub fn new(len: usize) -> Self {
        Self {
            values: vec![0.0; len.max(2)],
            head: 0,
        }
    }

    /// Appends the newest value, dropping the oldest.
    pub fn push(&mut self, gr_db: f32) {
        self.values[self.head] = if gr_db.is_finite() {
            gr_db.max(0.0)
        } else {
            0.0
        };
        self.head = (self.head + 1) % self.values.len();
    }

    /// Values from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = f32> + '_ {
        self.values[self.head..]
            .iter()
            .chain(&self.values[..self.head])
            .copied()
    }

    /// Clears the history to 0 dB.
    pub fn clear(&mut self) {
        self.values.fill(0.0);
    }

    /// Draws the history as a filled trace hanging from the top: 0 dB at the top, `max_gr_db` at
    /// the bottom, a grid line every 6 dB.
    pub fn draw(&self, ui: &mut Ui, size: Vec2, max_gr_db: f32) {
        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, Color32::from_gray(20));
        let max = max_gr_db.max(1.0);
        let mut db = 6.0;
        while db < max {
            let y = rect.top() + db / max * rect.height();
            painter.line_segment(
                [pos2(rect.left(), y), pos2(rect.right(), y)],
                Stroke::new(1.0, Color32::from_gray(45)),
            );
            db += 6.0;
        }
        let n = self.values.len();
        let dx = rect.width() / (n - 1) as f32;
        let y_of = |db: f32| rect.top() + (db / max).clamp(0.0, 1.0) * rect.height();
        let fill = GR_COLOUR.gamma_multiply(0.35);
        let mut line = Vec::with_capacity(n);
        for (i, v) in self.iter().enumerate() {
            let x = rect.left() + i as f32 * dx;
            let y = y_of(v);
            if v > 0.0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x, rect.top()), pos2(x + dx.max(1.0), y)),
                    0.0,
                    fill,
                );
            }
            line.push(pos2(x, y));
        }
        painter.add(Shape::line(line, Stroke::new(1.5, GR_COLOUR)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest_values_in_order() {
        let mut h = GrHistory::new(3);
        for v in [1.0, 2.0, 3.0, 4.0] {
            h.push(v);
        }
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        h.push(f32::NAN);
        h.push(-1.0);
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![4.0, 0.0, 0.0]);
    }
}
