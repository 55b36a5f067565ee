//! Encrypted credential vault (placeholder until issue 3 lands).

#![forbid(unsafe_code)]
