//! Property tests: for any input, scanning never panics and every span lies inside the text on char boundaries.

use proptest::prelude::*;
use rampart_guard::{ScanKind, scan, wrap_untrusted};

fn check(text: &str, kind: ScanKind) -> Result<(), TestCaseError> {
    let report = scan(text, kind);
    prop_assert_eq!(report.is_injection(), !report.findings.is_empty());
    for f in &report.findings {
        let [a, b] = f.span;
        prop_assert!(
            a <= b && b <= text.len(),
            "span {:?} out of 0..{}",
            f.span,
            text.len()
        );
        prop_assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
    }
    Ok(())
}

/// Text built from fragments that are close to the rules, with odd characters in between.
fn attackish() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        Just("ignore".to_owned()),
        Just("previous".to_owned()),
        Just("instructions".to_owned()),
        Just("you are now".to_owned()),
        Just("DAN".to_owned()),
        Just("new instructions:".to_owned()),
        Just("system prompt:".to_owned()),
        Just("іgnоrе".to_owned()),
        Just("\u{200B}".to_owned()),
        Just("\u{E0041}".to_owned()),
        Just("ﬁ".to_owned()),
        Just("㍻".to_owned()),
        Just(":".to_owned()),
        Just("$(id)".to_owned()),
        Just("aWdub3JlIHByZXZpb3VzIGluc3RydWN0aW9ucw==".to_owned()),
        Just("\\x69\\x67".to_owned()),
        Just("\u{301}".to_owned()),
        "\\PC{0,4}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(frag, 0..24).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn spans_in_bounds_for_any_string(text in any::<String>()) {
        check(&text, ScanKind::Message)?;
        check(&text, ScanKind::Skill)?;
    }

    #[test]
    fn spans_in_bounds_for_attack_like_text(text in attackish()) {
        check(&text, ScanKind::Message)?;
        check(&text, ScanKind::Untrusted)?;
        let w = wrap_untrusted("web_fetch", &text);
        prop_assert_eq!(w.wrapped.matches(rampart_guard::CLOSE).count(), 2);
    }
}
