//! Look-ahead peak and true-peak limiter.
