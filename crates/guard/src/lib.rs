//! Text crossing a trust boundary: input validation and injection detection (placeholder until issue 4 lands).

#![forbid(unsafe_code)]
