//! postmix-channel-strip
