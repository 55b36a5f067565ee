//! SQLite state: sessions and their history.

#![forbid(unsafe_code)]
