//! The matcher: rule anchors found with Aho-Corasick on the normalized view, context steps checked word by word.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::normalize::{is_sep, normalize_phrase};
use crate::rules::{RULES, Rule};

/// A normalized phrase; `colon` requires a `:` separator right after it.
#[derive(Debug)]
struct Phrase {
    bytes: Vec<u8>,
    colon: bool,
}

impl Phrase {
    fn new(s: &str) -> Self {
        let (body, colon) = match s.strip_suffix(':') {
            Some(b) => (b, true),
            None => (s, false),
        };
        Phrase {
            bytes: normalize_phrase(body),
            colon,
        }
    }

    /// If the phrase starts at view byte `w` and ends on a word boundary, the index of the separator after it.
    #[inline]
    fn at(&self, view: &[u8], w: usize) -> Option<usize> {
        // Most candidate words differ in their first byte; test it before comparing the slices.
        if view.get(w) != self.bytes.first() {
            return None;
        }
        let end = w + self.bytes.len();
        let rest = view.get(w..end)?;
        let next = *view.get(end)?;
        (rest == self.bytes.as_slice() && is_sep(next) && (!self.colon || next == b':'))
            .then_some(end)
    }
}

#[derive(Debug)]
struct CompiledStep {
    gap: u8,
    phrases: Vec<Phrase>,
}

#[derive(Debug)]
struct CompiledRule {
    steps: Vec<CompiledStep>,
    not_before: Vec<Vec<u8>>,
    not_after: Vec<Phrase>,
}

/// The compiled rule set.
#[derive(Debug)]
pub(crate) struct Detector {
    ac: AhoCorasick,
    /// For each Aho-Corasick pattern: (rule index, colon required).
    anchors: Vec<Vec<(usize, bool)>>,
    rules: Vec<CompiledRule>,
}

/// A match on the view: the rule and the view span (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ViewMatch {
    pub(crate) rule: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The process-wide compiled detector for [`RULES`].
pub(crate) fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| Detector::compile(RULES))
}

impl Detector {
    fn compile(rules: &[Rule]) -> Self {
        let mut ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut anchors: Vec<Vec<(usize, bool)>> = Vec::new();
        let mut compiled = Vec::with_capacity(rules.len());
        for (ri, rule) in rules.iter().enumerate() {
            let steps: Vec<CompiledStep> = rule
                .steps
                .iter()
                .map(|s| CompiledStep {
                    gap: s.gap,
                    phrases: s.any_of.iter().map(|p| Phrase::new(p)).collect(),
                })
                .collect();
            if let Some(first) = steps.first() {
                for ph in &first.phrases {
                    let id = *ids.entry(ph.bytes.clone()).or_insert_with(|| {
                        patterns.push(ph.bytes.clone());
                        anchors.push(Vec::new());
                        patterns.len() - 1
                    });
                    anchors[id].push((ri, ph.colon));
                }
            }
            let not_before = rule
                .not_before
                .iter()
                .map(|w| normalize_phrase(w))
                .collect();
            let not_after = rule.not_after.iter().map(|w| Phrase::new(w)).collect();
            compiled.push(CompiledRule {
                steps,
                not_before,
                not_after,
            });
        }
        // The patterns are a fixed, small, valid set; building cannot fail for them.
        #[allow(clippy::expect_used)]
        // reason: a build failure is a bug in the static rule table, caught by every test
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .expect("rule anchors build an automaton");
        Detector {
            ac,
            anchors,
            rules: compiled,
        }
    }

    /// Every rule match in `view`, in order of anchor position.
    pub(crate) fn find(&self, view: &[u8]) -> Vec<ViewMatch> {
        let mut out = Vec::new();
        for m in self.ac.find_overlapping_iter(view) {
            let (start, end) = (m.start(), m.end());
            if start == 0 || !is_sep(view[start - 1]) || end >= view.len() || !is_sep(view[end]) {
                continue;
            }
            for &(ri, colon) in &self.anchors[m.pattern().as_usize()] {
                if colon && view[end] != b':' {
                    continue;
                }
                let rule = &self.rules[ri];
                if !rule.not_before.is_empty() && previous_word_in(view, start, &rule.not_before) {
                    continue;
                }
                if rule
                    .not_after
                    .iter()
                    .any(|ph| ph.at(view, end + 1).is_some())
                {
                    continue;
                }
                if let Some(last) = match_steps(view, end, &rule.steps[1..]) {
                    let span_end = if colon && rule.steps.len() == 1 {
                        end + 1
                    } else {
                        last
                    };
                    out.push(ViewMatch {
                        rule: ri,
                        start,
                        end: span_end,
                    });
                }
            }
        }
        out
    }
}

/// Matches the context steps after the separator at `p`; returns the end of the last phrase matched.
fn match_steps(view: &[u8], mut p: usize, steps: &[CompiledStep]) -> Option<usize> {
    for step in steps {
        let mut found = None;
        for _ in 0..=step.gap {
            let w = p + 1;
            if w >= view.len() {
                return None;
            }
            if let Some(e) = step.phrases.iter().find_map(|ph| ph.at(view, w)) {
                found = Some(e);
                break;
            }
            p = w + view[w..].iter().position(|&b| is_sep(b))?;
        }
        p = found?;
    }
    Some(p)
}

/// Whether the word right before the word starting at `start` is one of `words`.
fn previous_word_in(view: &[u8], start: usize, words: &[Vec<u8>]) -> bool {
    // view[start - 1] is the separator before the anchor.
    if start < 2 {
        return false;
    }
    let end = start - 1;
    let begin = view[..end]
        .iter()
        .rposition(|&b| is_sep(b))
        .map_or(0, |i| i + 1);
    let prev = &view[begin..end];
    words.iter().any(|w| w.as_slice() == prev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Normalized;

    fn rules_hit(text: &str) -> Vec<&'static str> {
        let n = Normalized::new(text);
        detector()
            .find(n.bytes())
            .iter()
            .map(|m| RULES[m.rule].id)
            .collect()
    }

    #[test]
    fn rule_examples() {
        for rule in RULES {
            for ex in rule.must_match {
                assert!(
                    rules_hit(ex).contains(&rule.id),
                    "rule {} must match {ex:?}",
                    rule.id
                );
            }
            for ex in rule.must_not_match {
                assert!(
                    !rules_hit(ex).contains(&rule.id),
                    "rule {} must not match {ex:?}",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn every_rule_has_examples() {
        for rule in RULES {
            assert!(rule.must_match.len() >= 2, "{} needs examples", rule.id);
            assert!(
                rule.must_not_match.len() >= 2,
                "{} needs counter-examples",
                rule.id
            );
        }
    }

    #[test]
    fn fourteen_seed_patterns_in_five_groups() {
        let patterns: std::collections::BTreeSet<_> = RULES.iter().map(|r| r.pattern).collect();
        let groups: std::collections::BTreeSet<_> = RULES.iter().map(|r| r.category).collect();
        // The seeds announce 14 patterns but list 13 phrases; every listed phrase has its rule.
        assert_eq!(patterns.len(), 13);
        assert_eq!(groups.len(), 5);
    }
}
