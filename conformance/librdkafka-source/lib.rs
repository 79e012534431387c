//! Empty: this package only pins the `rdkafka-sys` crate whose source the conformance harness
//! builds (see Cargo.toml).
