//! Fuzzes the audit log readers: the entry and checkpoint line parsers, `verify` over an
//! arbitrary log and checkpoints file, and `query`/`export`. None may panic, and every entry that
//! parses must re-encode to a line that parses back to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_audit::{
    Checkpoint, Entry, ExportFormat, Query, VerifyOptions, export_reader, query_reader,
    verify_reader,
};

fuzz_target!(|data: &[u8]| {
    // Split into a log and a checkpoints file at the first 0xFF byte (never valid in JSON text).
    let (log, cps) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };

    for line in log.split(|&b| b == b'\n') {
        if let Ok(e) = Entry::parse_line(line) {
            let again = Entry::parse_line(&e.to_line()).expect("re-encoded entry parses");
            assert_eq!(again.to_line(), e.to_line());
            assert_eq!(again.computed_hash(), e.computed_hash());
        }
        if let Ok(c) = Checkpoint::parse_line(line) {
            let again = Checkpoint::parse_line(&c.to_line()).expect("re-encoded checkpoint parses");
            assert_eq!(again, c);
        }
    }

    let report = verify_reader(log, cps, &VerifyOptions::default()).expect("in-memory read");
    if report.is_ok() {
        assert!(report.head.is_some());
    }
    let _ = report.to_json();
    let _ = report.to_string();

    let _ = query_reader(log, &Query::default());
    let mut sink = Vec::new();
    let _ = export_reader(log, ExportFormat::Json, &mut sink);
});
