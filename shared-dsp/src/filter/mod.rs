//! IIR filters: analog-prototype EQ curve model, analog-matched biquads.
