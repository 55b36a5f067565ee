//! Raw TOML to typed configuration; secret references; secure defaults.

#![forbid(unsafe_code)]
