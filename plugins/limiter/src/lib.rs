//! postmix-limiter
