//! Component test support.
