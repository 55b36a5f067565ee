//! The `rampart` command.

fn main() {}
