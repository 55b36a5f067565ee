//! Benchmarks of one agent turn (filled in below).
fn main() {}
