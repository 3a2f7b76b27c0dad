//! Views for peak limiters: a scrolling history of gain reduction drawn over the waveform, the
//! way mastering limiters show what they do to the programme.
//!
//! The waveform is each frame's peak level before the limiter (grey) and after it (accent), on a
//! dB scale rising from the bottom; the gain reduction hangs from the top in the suite's
//! gain-reduction colour ([`crate::dynamics_view::GR_COLOUR`]), on its own dB scale. The caller
//! collects one value of each per editor frame from the audio thread (e.g. through
//! [`crate::meter::MeterValue`], which keeps the largest since the last frame, so no peak is lost).

use egui::{Color32, Rect, Sense, Shape, Stroke, Ui, Vec2, pos2};

use crate::dynamics_view::GR_COLOUR;
use crate::theme;

/// Colour of the waveform before the limiter.
pub const INPUT_WAVE_COLOUR: Color32 = Color32::from_gray(70);

/// One frame of the history.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Frame {
    /// Peak before the limiter (linear).
    pub input_peak: f32,
    /// Peak after the limiter (linear).
    pub output_peak: f32,
    /// Largest gain reduction in dB (>= 0).
    pub gr_db: f32,
}

/// A scrolling history of waveform peaks and gain reduction, one frame per editor repaint,
/// newest at the right. Lives on the GUI thread.
#[derive(Debug, Clone)]
pub struct WaveGrHistory {
    /// Ring of frames.
    frames: Vec<Frame>,
    /// Index of the oldest frame (the next to be overwritten).
    head: usize,
}

/// Replaces non-finite or negative values by 0.
fn clean(v: f32) -> f32 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

impl WaveGrHistory {
    /// A history of `len` frames (at least 2), all silent.
    pub fn new(len: usize) -> Self {
        Self {
            frames: vec![Frame::default(); len.max(2)],
            head: 0,
        }
    }

    /// Appends the newest frame, dropping the oldest. Non-finite values count as 0.
    pub fn push(&mut self, input_peak: f32, output_peak: f32, gr_db: f32) {
        self.frames[self.head] = Frame {
            input_peak: clean(input_peak),
            output_peak: clean(output_peak),
            gr_db: clean(gr_db),
        };
        self.head = (self.head + 1) % self.frames.len();
    }

    /// Frames from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = Frame> + '_ {
        self.frames[self.head..]
            .iter()
            .chain(&self.frames[..self.head])
            .copied()
    }

    /// Clears the history.
    pub fn clear(&mut self) {
        self.frames.fill(Frame::default());
    }

    /// Draws the history in `size`: waveform peaks from `floor_db` (bottom) to 0 dBFS (top), a
    /// dashed line at `ceiling_db` if given, and the gain reduction hanging from the top on a
    /// scale of 0 to `max_gr_db`, with a grid line every 6 dB of gain reduction.
    pub fn draw(
        &self,
        ui: &mut Ui,
        size: Vec2,
        floor_db: f32,
        ceiling_db: Option<f32>,
        max_gr_db: f32,
    ) {
        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, Color32::from_gray(20));
        let floor = floor_db.min(-1.0);
        let level_y = |lin: f32| {
            let db = shared_dsp::util::gain_to_db(lin).max(floor);
            rect.bottom() - (1.0 - db / floor).clamp(0.0, 1.0) * rect.height()
        };
        let max_gr = max_gr_db.max(1.0);
        let gr_y = |db: f32| rect.top() + (db / max_gr).clamp(0.0, 1.0) * rect.height();
        let grid = Stroke::new(1.0, Color32::from_gray(40));
        let mut db = 6.0;
        while db < max_gr {
            painter.line_segment(
                [pos2(rect.left(), gr_y(db)), pos2(rect.right(), gr_y(db))],
                grid,
            );
            db += 6.0;
        }
        let n = self.frames.len();
        let dx = rect.width() / (n - 1) as f32;
        let mut gr_line = Vec::with_capacity(n);
        for (i, f) in self.iter().enumerate() {
            let x = rect.left() + i as f32 * dx;
            let w = dx.max(1.0);
            if f.input_peak > 0.0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x, level_y(f.input_peak)), pos2(x + w, rect.bottom())),
                    0.0,
                    INPUT_WAVE_COLOUR,
                );
            }
            if f.output_peak > 0.0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x, level_y(f.output_peak)), pos2(x + w, rect.bottom())),
                    0.0,
                    theme::ACCENT.gamma_multiply(0.55),
                );
            }
            if f.gr_db > 0.0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x, rect.top()), pos2(x + w, gr_y(f.gr_db))),
                    0.0,
                    GR_COLOUR.gamma_multiply(0.3),
                );
            }
            gr_line.push(pos2(x, gr_y(f.gr_db)));
        }
        if let Some(c) = ceiling_db.filter(|c| *c > floor && *c <= 0.0) {
            let y = level_y(shared_dsp::util::db_to_gain(c));
            painter.add(Shape::dashed_line(
                &[pos2(rect.left(), y), pos2(rect.right(), y)],
                Stroke::new(1.0, Color32::WHITE.gamma_multiply(0.6)),
                6.0,
                4.0,
            ));
        }
        painter.add(Shape::line(gr_line, Stroke::new(1.5, GR_COLOUR)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest_frames_in_order_and_cleans_values() {
        let mut h = WaveGrHistory::new(2);
        h.push(0.5, 0.25, 1.0);
        h.push(0.6, 0.3, 2.0);
        h.push(f32::NAN, -1.0, f32::INFINITY);
        let v: Vec<Frame> = h.iter().collect();
        assert_eq!(v[0].gr_db, 2.0);
        assert_eq!(v[0].input_peak, 0.6);
        assert_eq!(v[1], Frame::default());
        h.clear();
        assert!(h.iter().all(|f| f == Frame::default()));
    }
}
