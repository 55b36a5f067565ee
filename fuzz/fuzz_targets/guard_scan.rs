//! Fuzzes rampart-guard's normalizer, matcher, decoder and envelope: no panic on any input, every span inside the
//! text on character boundaries, and the envelope never carries more than its own two delimiters.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_guard::{CLOSE, OPEN, ScanKind, scan, wrap_untrusted};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for kind in [ScanKind::Message, ScanKind::Skill] {
        let report = scan(&text, kind);
        assert_eq!(report.is_injection(), !report.findings.is_empty());
        for f in &report.findings {
            let [a, b] = f.span;
            assert!(a <= b && b <= text.len(), "span {:?} outside 0..{}", f.span, text.len());
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b), "span {:?} splits a char", f.span);
        }
    }
    let w = wrap_untrusted("fuzz", &text);
    assert_eq!(w.wrapped.matches(OPEN).count(), 2);
    assert_eq!(w.wrapped.matches(CLOSE).count(), 2);
});
