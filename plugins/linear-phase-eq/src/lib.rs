//! postmix-linear-phase-eq
