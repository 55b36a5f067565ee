//! Small shared vocabulary with no I/O: validated names and roles.

#![forbid(unsafe_code)]
