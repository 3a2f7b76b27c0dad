//! postmix-bus-compressor
