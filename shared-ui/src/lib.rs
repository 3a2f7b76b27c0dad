//! shared-ui
