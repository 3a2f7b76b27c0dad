//! Linear-phase polyphase oversampling.
