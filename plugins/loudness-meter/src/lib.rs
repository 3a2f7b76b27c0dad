//! postmix-loudness-meter
