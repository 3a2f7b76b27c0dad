//! postmix-tests
