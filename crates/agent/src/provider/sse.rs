//! A server-sent-events parser with bounded buffers (the streaming format of both provider APIs).

use super::ProviderError;

/// The longest single SSE line accepted.
///
/// # Security
/// The provider (or anything between us and it) controls the stream; without a bound a stream
/// that never sends a newline would grow the buffer until memory runs out.
pub const MAX_SSE_LINE_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed it bytes as they arrive, get whole events back.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// A parser with empty buffers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events completed by them.
    ///
    /// # Errors
    /// [`ProviderError::TooLarge`] when a line exceeds [`MAX_SSE_LINE_BYTES`].
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, ProviderError> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_done(&line, &mut out);
            } else {
                if self.line.len() >= MAX_SSE_LINE_BYTES {
                    return Err(ProviderError::TooLarge);
                }
                self.line.push(b);
            }
        }
        Ok(out)
    }

    /// Ends the stream: dispatches a final event that lacked its blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let mut out = Vec::new();
            self.line_done(&line, &mut out);
            if let Some(e) = out.pop() {
                return Some(e);
            }
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        self.data.take().map(|data| SseEvent { event, data })
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(e) = self.dispatch() {
                out.push(e);
            }
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {} // comments (":"), "id", "retry" and unknown fields are ignored
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_and_crlf() {
        let text = "event: a\r\ndata: {\"x\":\ndata: 1}\r\n\r\n: comment\n\ndata: [DONE]\n\n";
        let mut p = SseParser::new();
        let mut events = Vec::new();
        for chunk in text.as_bytes().chunks(3) {
            events.extend(p.push(chunk).unwrap());
        }
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("a".into()),
                    data: "{\"x\":\n1}".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                }
            ]
        );
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn unterminated_final_event_is_dispatched_on_finish() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: tail").unwrap().is_empty());
        assert_eq!(p.finish().unwrap().data, "tail");
    }

    #[test]
    fn endless_line_is_refused() {
        let mut p = SseParser::new();
        let chunk = vec![b'a'; 64 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..(MAX_SSE_LINE_BYTES / chunk.len() + 2) {
            result = p.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(ProviderError::TooLarge)));
    }
}
