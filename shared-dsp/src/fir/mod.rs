//! Linear-phase FIR design and FFT convolution.
