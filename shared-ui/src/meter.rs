//! Meters: an atomic value the audio thread writes and the editor reads, GUI-side ballistics,
//! and the bar widget that draws it.

use atomic_float::AtomicF32;
use egui::{Color32, Rect, Sense, Stroke, Ui, Vec2, pos2};
use std::sync::atomic::Ordering;

use crate::theme;

/// A level that the audio thread raises and the editor collects, lock-free.
///
/// The audio thread calls [`MeterValue::raise`] with each block's peak; the editor calls
/// [`MeterValue::take`], which returns the largest value since the last take and starts over. So
/// no peak is lost however seldom the editor repaints.
#[derive(Debug, Default)]
pub struct MeterValue {
    /// Largest linear value since the last `take`.
    peak: AtomicF32,
}

impl MeterValue {
    /// A meter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a value (linear); keeps the maximum. Real-time safe.
    #[inline]
    pub fn raise(&self, value: f32) {
        // NOTE: a plain load first: the read-modify-write (a compare-and-swap loop) only runs
        // when the value is a new maximum, which is rare between two reads by the editor.
        if value > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// Returns the largest value since the last call, and resets it to zero.
    pub fn take(&self) -> f32 {
        self.peak.swap(0.0, Ordering::Relaxed)
    }
}

/// Peak-meter ballistics on the editor side: instant rise, a steady fall, and a peak hold.
#[derive(Debug, Clone)]
pub struct Ballistics {
    /// Displayed level in dB.
    level_db: f32,
    /// Held peak in dB.
    hold_db: f32,
    /// Seconds the hold has left.
    hold_left_s: f32,
}

impl Default for Ballistics {
    fn default() -> Self {
        Self {
            level_db: f32::NEG_INFINITY,
            hold_db: f32::NEG_INFINITY,
            hold_left_s: 0.0,
        }
    }
}

impl Ballistics {
    /// Fall rate in dB per second (IEC 60268-18 peak meters fall 20 dB in 1.7 s).
    pub const FALL_DB_PER_S: f32 = 11.8;
    /// How long a peak is held, in seconds.
    pub const HOLD_S: f32 = 1.5;

    /// Feeds a new linear peak after `dt` seconds; returns (level dB, hold dB).
    pub fn update(&mut self, peak: f32, dt: f32) -> (f32, f32) {
        let db = shared_dsp::util::gain_to_db(peak).max(-120.0);
        self.level_db = (self.level_db - Self::FALL_DB_PER_S * dt).max(db);
        if db >= self.hold_db || self.hold_left_s <= 0.0 {
            self.hold_db = db.max(self.level_db);
            self.hold_left_s = Self::HOLD_S;
        } else {
            self.hold_left_s -= dt;
        }
        (self.level_db, self.hold_db)
    }
}

/// Draws a vertical bar meter for `level_db` with a peak-hold line at `hold_db`, scaled from
/// `min_db` (bottom) to `max_db` (top), with scale marks every 6 dB.
pub fn vertical_meter(
    ui: &mut Ui,
    size: Vec2,
    level_db: f32,
    hold_db: f32,
    min_db: f32,
    max_db: f32,
) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(20));
    let y_of = |db: f32| {
        let t = ((db - min_db) / (max_db - min_db)).clamp(0.0, 1.0);
        rect.bottom() - t * rect.height()
    };
    // Bar in three colour zones so a glance tells the level range.
    let zones = [
        (min_db, -18.0, theme::METER_LOW),
        (-18.0, -6.0, theme::METER_MID),
        (-6.0, max_db, theme::METER_HIGH),
    ];
    for (lo, hi, colour) in zones {
        let top = level_db.min(hi);
        if top > lo {
            let r = Rect::from_min_max(
                pos2(rect.left() + 2.0, y_of(top)),
                pos2(rect.right() - 2.0, y_of(lo)),
            );
            painter.rect_filled(r, 0.0, colour);
        }
    }
    if hold_db > min_db {
        let y = y_of(hold_db);
        let colour = if hold_db > 0.0 {
            theme::METER_HIGH
        } else {
            Color32::WHITE
        };
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.right(), y)],
            Stroke::new(2.0, colour),
        );
    }
    let mut db = max_db - max_db.rem_euclid(6.0);
    while db > min_db {
        let y = y_of(db);
        painter.line_segment(
            [pos2(rect.left(), y), pos2(rect.left() + 4.0, y)],
            Stroke::new(1.0, Color32::GRAY),
        );
        db -= 6.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_returns_max_since_last_take_and_resets() {
        let m = MeterValue::new();
        m.raise(0.25);
        m.raise(0.75);
        m.raise(0.5);
        assert_eq!(m.take(), 0.75);
        assert_eq!(m.take(), 0.0);
    }

    #[test]
    fn ballistics_rise_instantly_and_fall_at_rate() {
        let mut b = Ballistics::default();
        let (l, _) = b.update(1.0, 0.01);
        assert!(l.abs() < 1e-4);
        let (l, h) = b.update(0.0, 1.0);
        assert!((l + Ballistics::FALL_DB_PER_S).abs() < 1e-3, "{l}");
        assert!(h.abs() < 1e-4, "hold keeps the peak: {h}");
    }
}
