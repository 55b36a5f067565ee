//! Obfuscation families shared by the obfuscation tests and the `eval` example: each maps a text to an
//! obfuscated form an attacker might send.

fn map_letters(s: &str, f: impl Fn(char) -> Option<&'static str>) -> String {
    s.chars()
        .map(|c| f(c).map_or_else(|| c.to_string(), str::to_owned))
        .collect()
}

/// Inserts `ins` after every second letter inside words.
fn inside_words(s: &str, ins: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        out.push(c);
        if c.is_alphabetic() {
            n += 1;
            if n % 2 == 0 {
                out.push_str(ins);
            }
        } else {
            n = 0;
        }
    }
    out
}

/// An obfuscation family: its name and the transform it applies.
pub(crate) type Family = (&'static str, Box<dyn Fn(&str) -> String>);

pub(crate) fn families() -> Vec<Family> {
    vec![
        ("plain", Box::new(str::to_owned)),
        ("upper_case", Box::new(str::to_uppercase)),
        (
            "alternating_case",
            Box::new(|s| {
                s.chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect()
            }),
        ),
        ("extra_whitespace", Box::new(|s| s.replace(' ', "  \t\n "))),
        (
            "punctuation_separators",
            Box::new(|s| s.replace(' ', "-").replace("-:", ":").replacen('-', "_", 1)),
        ),
        ("dotted_separators", Box::new(|s| s.replace(' ', " ... "))),
        (
            "nbsp_and_unicode_spaces",
            Box::new(|s| {
                s.replacen(' ', "\u{00A0}", 1)
                    .replace(' ', "\u{2003}\u{3000}")
            }),
        ),
        ("zero_width", Box::new(|s| inside_words(s, "\u{200B}"))),
        (
            "zero_width_joiners",
            Box::new(|s| inside_words(s, "\u{200D}\u{2060}\u{FEFF}")),
        ),
        ("soft_hyphen", Box::new(|s| inside_words(s, "\u{00AD}"))),
        (
            "bidi_controls",
            Box::new(|s| inside_words(s, "\u{202E}\u{2066}")),
        ),
        (
            "tag_characters",
            Box::new(|s| inside_words(s, "\u{E0041}\u{E0020}")),
        ),
        (
            "control_characters",
            Box::new(|s| inside_words(s, "\u{0001}")),
        ),
        (
            "combining_marks",
            Box::new(|s| inside_words(s, "\u{0301}\u{0308}")),
        ),
        (
            "cyrillic_confusables",
            Box::new(|s| {
                map_letters(s, |c| match c {
                    'a' => Some("а"),
                    'c' => Some("с"),
                    'e' => Some("е"),
                    'i' => Some("і"),
                    'o' => Some("о"),
                    'p' => Some("р"),
                    'x' => Some("х"),
                    'y' => Some("у"),
                    's' => Some("ѕ"),
                    'j' => Some("ј"),
                    _ => None,
                })
            }),
        ),
        (
            "greek_confusables",
            Box::new(|s| {
                map_letters(s, |c| match c {
                    'o' => Some("ο"),
                    'i' => Some("ι"),
                    'v' => Some("ν"),
                    'u' => Some("υ"),
                    'A' => Some("Α"),
                    'N' => Some("Ν"),
                    'T' => Some("Τ"),
                    _ => None,
                })
            }),
        ),
        (
            "fullwidth",
            Box::new(|s| {
                map_letters(s, |c| match c {
                    'a'..='z' => Some(FULLWIDTH[(c as u8 - b'a') as usize]),
                    _ => None,
                })
            }),
        ),
        (
            "math_bold",
            Box::new(|s| {
                s.chars()
                    .map(|c| match c {
                        'a'..='z' => char::from_u32(0x1D41A + (c as u32 - 'a' as u32)).unwrap_or(c),
                        _ => c,
                    })
                    .collect()
            }),
        ),
        (
            "leetspeak",
            Box::new(|s| {
                map_letters(s, |c| match c {
                    'a' => Some("4"),
                    'e' => Some("3"),
                    'i' => Some("1"),
                    'o' => Some("0"),
                    's' => Some("5"),
                    't' => Some("7"),
                    'l' => Some("1"),
                    _ => None,
                })
            }),
        ),
        (
            "leet_symbols",
            Box::new(|s| {
                map_letters(s, |c| match c {
                    'a' => Some("@"),
                    's' => Some("$"),
                    _ => None,
                })
            }),
        ),
        (
            "mixed_everything",
            Box::new(|s| {
                let s = map_letters(s, |c| match c {
                    'o' => Some("о"),
                    'e' => Some("3"),
                    _ => None,
                });
                inside_words(&s.replace(' ', "\u{00A0} "), "\u{200B}").to_uppercase()
            }),
        ),
    ]
}

const FULLWIDTH: [&str; 26] = [
    "ａ", "ｂ", "ｃ", "ｄ", "ｅ", "ｆ", "ｇ", "ｈ", "ｉ", "ｊ", "ｋ", "ｌ", "ｍ", "ｎ", "ｏ", "ｐ",
    "ｑ", "ｒ", "ｓ", "ｔ", "ｕ", "ｖ", "ｗ", "ｘ", "ｙ", "ｚ",
];
