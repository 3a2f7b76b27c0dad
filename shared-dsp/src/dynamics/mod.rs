//! Dynamics: detector, gain computer, ballistics (compressor, gate, expander).
