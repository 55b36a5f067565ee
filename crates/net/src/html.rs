//! HTML reduced to readable text, with a hard cap on the output.
//!
//! A small hand-written stripper rather than a full HTML5 parser (`html5ever` and the crates on
//! top of it are large): the output is read by a model, never rendered, so there is nothing to
//! sanitize for a browser — the only goals are readable text, bounded work, and never panicking
//! on hostile input. It runs in one forward pass (each byte is looked at a bounded number of
//! times), drops `<script>`, `<style>` and similar elements with their content, drops comments,
//! turns block elements into line breaks, decodes the common character references, removes
//! control characters other than `\n` and `\t`, and collapses whitespace.

/// Elements whose content is not text for a reader.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas",
];

/// Elements that start a new line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "title",
    "tr",
    "ul",
];

/// Longest character reference looked at after `&`.
const MAX_ENTITY_LEN: usize = 12;

/// Converts HTML to text of at most `max_chars` characters; the flag says whether it was cut.
///
/// ```
/// let (text, cut) = rampart_net::html_to_text(
///     "<html><head><style>p{}</style><title>T</title></head>\
///      <body><p>Fish &amp; chips</p><script>evil()</script><!-- x --><p>2 &lt; 3</p></body>",
///     100,
/// );
/// assert_eq!(text, "T\nFish & chips\n2 < 3");
/// assert!(!cut);
/// ```
#[must_use]
pub fn html_to_text(html: &str, max_chars: usize) -> (String, bool) {
    let mut out = Out::new(max_chars);
    let b = html.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < b.len() && !out.full() {
        match b[i] {
            b'<' => {
                out.text(&html[text_start..i]);
                i = tag(html, i, &mut out);
                text_start = i;
            }
            b'&' => {
                out.text(&html[text_start..i]);
                let (decoded, next) = entity(html, i);
                match decoded {
                    Some(c) => out.push(c),
                    None => out.push('&'),
                }
                i = next;
                text_start = i;
            }
            _ => i += 1,
        }
    }
    if !out.full() {
        out.text(&html[text_start.min(html.len())..]);
    }
    out.finish()
}

/// Caps plain text the same way (control characters removed, whitespace kept).
#[must_use]
pub fn cap_text(text: &str, max_chars: usize) -> (String, bool) {
    let mut out = String::new();
    for (n, c) in text
        .chars()
        .filter(|c| !is_stripped_control(*c))
        .enumerate()
    {
        if n >= max_chars {
            return (out, true);
        }
        out.push(c);
    }
    (out, false)
}

fn is_stripped_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Handles a `<` at `start`; returns where text resumes.
fn tag(html: &str, start: usize, out: &mut Out) -> usize {
    let b = html.as_bytes();
    let rest = &b[start..];
    if rest.starts_with(b"<!--") {
        return find(b, start + 4, b"-->").map_or(b.len(), |p| p + 3);
    }
    let closing = rest.get(1) == Some(&b'/');
    let name_start = start + 1 + usize::from(closing);
    let name_len = b[name_start.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let is_markup = matches!(rest.get(1), Some(b'!' | b'?'));
    if name_len == 0 && !is_markup {
        // A lone `<` (as in "a < b") is text.
        out.push('<');
        return start + 1;
    }
    let name = html[name_start..name_start + name_len].to_ascii_lowercase();
    let end = tag_end(b, name_start + name_len);
    if !closing && SKIPPED.contains(&name.as_str()) {
        let mut needle = b"</".to_vec();
        needle.extend_from_slice(name.as_bytes());
        return find(b, end, &needle).map_or(b.len(), |p| tag_end(b, p + needle.len()));
    }
    if BLOCKS.contains(&name.as_str()) {
        out.newline();
    } else {
        // Inline elements still separate words (`<span>a</span><span>b</span>` reads "a b"
        // in a browser only by CSS, but "ab" would be worse for a reader than "a b").
        out.space();
    }
    end
}

/// The index after the `>` closing a tag, skipping quoted attribute values.
fn tag_end(b: &[u8], mut i: usize) -> usize {
    let mut quote = None;
    while i < b.len() {
        match (quote, b[i]) {
            (None, b'>') => return i + 1,
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Case-insensitive search for an ASCII needle.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= b.len() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

/// Decodes a character reference at `start` (`&`); returns it and where text resumes.
fn entity(html: &str, start: usize) -> (Option<char>, usize) {
    let b = html.as_bytes();
    let body_start = start + 1;
    let body_len = b[body_start..]
        .iter()
        .take(MAX_ENTITY_LEN)
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'#')
        .count();
    let body = &html[body_start..body_start + body_len];
    let after = body_start + body_len;
    let semicolon = b.get(after) == Some(&b';');
    let decoded = match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => body.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match decoded {
        Some(c) => (Some(c), after + usize::from(semicolon)),
        None => (None, body_start),
    }
}

/// The output under construction: collapses whitespace and stops at the cap.
struct Out {
    buf: String,
    chars: usize,
    max: usize,
    truncated: bool,
    pending_space: bool,
    pending_newlines: u8,
}

impl Out {
    fn new(max: usize) -> Self {
        Self {
            buf: String::new(),
            chars: 0,
            max,
            truncated: false,
            pending_space: false,
            pending_newlines: 0,
        }
    }

    fn full(&self) -> bool {
        self.truncated
    }

    fn text(&mut self, s: &str) {
        for c in s.chars() {
            if self.truncated {
                return;
            }
            self.push(c);
        }
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn newline(&mut self) {
        self.pending_newlines = 1;
    }

    fn push(&mut self, c: char) {
        if c == '\n' {
            return self.newline();
        }
        if c.is_whitespace() {
            return self.space();
        }
        if is_stripped_control(c) {
            return;
        }
        if !self.buf.is_empty() {
            if self.pending_newlines > 0 {
                for _ in 0..self.pending_newlines {
                    self.emit('\n');
                }
            } else if self.pending_space {
                self.emit(' ');
            }
        }
        self.pending_newlines = 0;
        self.pending_space = false;
        self.emit(c);
    }

    fn emit(&mut self, c: char) {
        if self.chars >= self.max {
            self.truncated = true;
            return;
        }
        self.buf.push(c);
        self.chars += 1;
    }

    fn finish(self) -> (String, bool) {
        (self.buf, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup_and_keeps_text() {
        let (t, _) = html_to_text(
            "<div class=\"a>b\">One</div><DIV>Two<br/>Three</DIV><SCRIPT type='x'>if (a<b) {}</script >Four",
            100,
        );
        assert_eq!(t, "One\nTwo\nThree\nFour");
    }

    #[test]
    fn hostile_input_never_panics_and_is_bounded() {
        for input in [
            "<",
            "&",
            "&#",
            "&#x",
            "&#xFFFFFFFF;",
            "&#99999999999;",
            "<!--",
            "<script>",
            "</",
            "<a href='",
            "<<<<>>>>",
            "é<é>é&é;",
            "<\u{0}>",
            "&#0;",
            "<!doctype html",
        ] {
            let _ = html_to_text(input, 10);
        }
        let (t, cut) = html_to_text(&"<p>word</p>".repeat(1000), 50);
        assert!(cut);
        assert_eq!(t.chars().count(), 50);
    }

    #[test]
    fn entities_decode_and_unknown_stay_literal() {
        let (t, _) = html_to_text("&lt;b&gt; &#65;&#x42; &copy; AT&T &amp", 100);
        assert_eq!(t, "<b> AB &copy; AT&T &");
    }

    #[test]
    fn control_characters_are_removed() {
        let (t, _) = html_to_text("a\u{1b}[31mb\u{7}c", 100);
        assert_eq!(t, "a[31mbc");
        assert_eq!(cap_text("x\u{1b}y\nz", 10), ("xy\nz".to_owned(), false));
        assert_eq!(cap_text("abcdef", 3), ("abc".to_owned(), true));
    }
}
