//! Session repair (SPEC R2): a history that does not parse or whose tool results do not match its
//! tool calls is mended instead of failing every later turn of that session.
//!
//! The rules, applied in order over the stored rows:
//! 1. A row whose JSON does not parse as a [`Message`] is quarantined (moved to the `quarantine`
//!    table with the reason) and left out of the history.
//! 2. A tool result whose `tool_call_id` does not answer a still-open call of the latest assistant
//!    message (an orphan, or a second answer to the same call) is quarantined.
//! 3. A tool call left without a result when the next user or assistant message (or the end of the
//!    history) arrives is closed with a synthetic error result, because providers reject a history
//!    with dangling calls.
//! 4. A tool call whose id repeats an earlier id of the same assistant message is dropped.

use std::collections::HashSet;

use crate::Message;

/// The content of the synthetic result that closes a dangling tool call.
pub const DANGLING_CALL_RESULT: &str =
    "error: this tool call has no result (the session was interrupted and repaired)";

/// A stored row that was taken out of a session's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedRow {
    /// The row id it had in the `messages` table.
    pub row_id: i64,
    /// Why it was taken out.
    pub reason: &'static str,
}

/// What repair changed in one history. Empty when the history was sound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Rows taken out of the history and kept in the quarantine table.
    pub quarantined: Vec<QuarantinedRow>,
    /// Tool calls that were closed with a synthetic error result.
    pub closed_tool_calls: usize,
    /// Tool calls dropped because their id repeated within one assistant message.
    pub dropped_duplicate_calls: usize,
}

impl RepairReport {
    /// True when nothing had to be repaired.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty()
            && self.closed_tool_calls == 0
            && self.dropped_duplicate_calls == 0
    }
}

/// Repairs rows `(row_id, json)` given in history order. Returns the sound history and what changed.
#[must_use]
pub fn repair(rows: &[(i64, String)]) -> (Vec<Message>, RepairReport) {
    let mut report = RepairReport::default();
    let mut out: Vec<Message> = Vec::with_capacity(rows.len());
    // Open calls of the latest assistant message: (id, name), in call order.
    let mut open: Vec<(String, String)> = Vec::new();

    for (row_id, json) in rows {
        let Ok(msg) = serde_json::from_str::<Message>(json) else {
            report.quarantined.push(QuarantinedRow {
                row_id: *row_id,
                reason: "row does not parse as a message",
            });
            continue;
        };
        match msg {
            Message::Tool {
                ref tool_call_id, ..
            } => {
                if let Some(pos) = open.iter().position(|(id, _)| id == tool_call_id) {
                    open.remove(pos);
                    out.push(msg);
                } else {
                    report.quarantined.push(QuarantinedRow {
                        row_id: *row_id,
                        reason: "tool result does not match an open tool call",
                    });
                }
            }
            Message::User { .. } => {
                close_open(&mut open, &mut out, &mut report);
                out.push(msg);
            }
            Message::Assistant {
                content,
                tool_calls,
            } => {
                close_open(&mut open, &mut out, &mut report);
                let mut seen = HashSet::new();
                let before = tool_calls.len();
                let tool_calls: Vec<_> = tool_calls
                    .into_iter()
                    .filter(|c| seen.insert(c.id.clone()))
                    .collect();
                report.dropped_duplicate_calls += before - tool_calls.len();
                open = tool_calls
                    .iter()
                    .map(|c| (c.id.clone(), c.name.clone()))
                    .collect();
                out.push(Message::Assistant {
                    content,
                    tool_calls,
                });
            }
        }
    }
    close_open(&mut open, &mut out, &mut report);
    (out, report)
}

fn close_open(open: &mut Vec<(String, String)>, out: &mut Vec<Message>, report: &mut RepairReport) {
    for (id, name) in open.drain(..) {
        report.closed_tool_calls += 1;
        out.push(Message::Tool {
            tool_call_id: id,
            name,
            content: DANGLING_CALL_RESULT.to_owned(),
            is_error: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolCallRequest;

    fn row(id: i64, m: &Message) -> (i64, String) {
        (id, serde_json::to_string(m).unwrap())
    }

    fn call(id: &str) -> ToolCallRequest {
        ToolCallRequest {
            id: id.into(),
            name: "clock".into(),
            arguments: serde_json::json!({}),
        }
    }

    fn result(id: &str) -> Message {
        Message::Tool {
            tool_call_id: id.into(),
            name: "clock".into(),
            content: "now".into(),
            is_error: false,
        }
    }

    #[test]
    fn sound_history_is_untouched() {
        let msgs = vec![
            Message::user("hi"),
            Message::Assistant {
                content: String::new(),
                tool_calls: vec![call("a"), call("b")],
            },
            result("b"),
            result("a"),
            Message::assistant("done"),
        ];
        let rows: Vec<_> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| row(i as i64, m))
            .collect();
        let (out, report) = repair(&rows);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(out, msgs);
    }

    #[test]
    fn garbage_rows_orphans_and_duplicates_are_quarantined() {
        let rows = vec![
            (1, "{not json".to_owned()),
            row(2, &result("ghost")),
            row(3, &Message::user("hi")),
            (4, r#"{"role":"wizard","content":"x"}"#.to_owned()),
            row(
                5,
                &Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![call("a")],
                },
            ),
            row(6, &result("a")),
            row(7, &result("a")),
            row(8, &Message::assistant("ok")),
        ];
        let (out, report) = repair(&rows);
        let ids: Vec<i64> = report.quarantined.iter().map(|q| q.row_id).collect();
        assert_eq!(ids, vec![1, 2, 4, 7]);
        assert_eq!(out.len(), 4);
        assert_eq!(report.closed_tool_calls, 0);
    }

    #[test]
    fn dangling_calls_are_closed_before_the_next_turn_and_at_the_end() {
        let rows = vec![
            row(1, &Message::user("hi")),
            row(
                2,
                &Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![call("a"), call("a"), call("b")],
                },
            ),
            row(3, &result("a")),
            row(4, &Message::user("again")),
            row(
                5,
                &Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![call("c")],
                },
            ),
        ];
        let (out, report) = repair(&rows);
        assert_eq!(report.closed_tool_calls, 2);
        assert_eq!(report.dropped_duplicate_calls, 1);
        // user, assistant(a,b), result a, synthetic b, user, assistant(c), synthetic c
        assert_eq!(out.len(), 7);
        assert!(
            matches!(&out[3], Message::Tool { tool_call_id, is_error: true, .. } if tool_call_id == "b")
        );
        assert!(
            matches!(&out[6], Message::Tool { tool_call_id, is_error: true, .. } if tool_call_id == "c")
        );
        // The repaired history is itself sound.
        let rows2: Vec<_> = out
            .iter()
            .enumerate()
            .map(|(i, m)| row(i as i64, m))
            .collect();
        assert!(repair(&rows2).1.is_clean());
    }
}
