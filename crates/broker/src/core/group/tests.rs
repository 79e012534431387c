//! Group coordinator tests with explicit time.
