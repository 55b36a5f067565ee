//! Tamper-evident audit trail (placeholder until issue 5 lands).

#![forbid(unsafe_code)]
