//! The normalized view of a text that detection runs on, with a map back to the original.
//!
//! Every character of the input is folded on its own:
//!
//! 1. Ignorable characters are dropped: zero-width characters, bidi controls, the soft hyphen, tag characters
//!    (U+E0000–E007F), variation selectors, every Unicode default-ignorable code point, combining marks,
//!    control characters other than `\t`, `\n`, `\r`, and apostrophes (so `you're` folds to `youre`).
//! 2. The rest goes through Unicode NFKC (fullwidth and mathematical letters become ASCII), then through the
//!    UTS #39 confusable skeleton (`unicode-security`) so Cyrillic and Greek look-alikes become Latin letters,
//!    then to lower case.
//! 3. ASCII is folded by one table: letters to lower case, common leetspeak digits and symbols to letters
//!    (`0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s`), and `l` to `i` (the skeleton cannot tell `I`, `l`, `1`
//!    and `|` apart, so neither do we; rule phrases are folded the same way, so they still match).
//! 4. Every run of whitespace and punctuation becomes one separator byte: `:` when the run holds a colon
//!    (directive patterns such as `new instructions:` need it), a space otherwise. The view starts and ends
//!    with a separator, so every word is bounded by separators on both sides.
//!
//! Non-ASCII characters are folded through a table built once per process for the Basic Multilingual Plane
//! and the mathematical and enclosed alphanumeric blocks; other characters are classified on the fly.
//! Pure-ASCII runs never touch the table.
//!
//! Offsets: the view keeps a list of segments. A *linear* segment maps a run of view bytes one to one onto
//! original bytes; a *group* segment maps a few view bytes onto one original character or one separator run.
//! [`Normalized::orig_span`] turns a span of the view into a span of the original text that starts and ends on
//! character boundaries.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Class byte for a separator (whitespace or punctuation) in the ASCII fold table.
const SEP: u8 = 0x80;
/// Class byte for a colon in the ASCII fold table.
const COLON: u8 = 0x81;
/// Class byte for a dropped character in the ASCII fold table.
const DROP: u8 = 0x82;

/// The ASCII fold table: output byte, or one of [`SEP`], [`COLON`], [`DROP`].
static ASCII_FOLD: [u8; 128] = build_ascii_fold();

const fn build_ascii_fold() -> [u8; 128] {
    let mut t = [SEP; 128];
    let mut b = 0u8;
    while b < 128 {
        t[b as usize] = match b {
            b'a'..=b'z' => b,
            b'A'..=b'Z' => b + 32,
            b'\t' | b'\n' | b'\r' | b' ' => SEP,
            0..=0x1f | 0x7f => DROP,
            b':' => COLON,
            b'\'' => DROP,
            b'0' => b'o',
            b'1' => b'i',
            b'3' => b'e',
            b'4' => b'a',
            b'5' => b's',
            b'7' => b't',
            b'8' => b'b',
            b'9' => b'g',
            b'2' | b'6' => b,
            b'@' => b'a',
            b'$' => b's',
            _ => SEP,
        };
        b += 1;
    }
    // `l` and `i` fold together (see the module docs).
    t[b'l' as usize] = b'i';
    t[b'L' as usize] = b'i';
    t
}

/// [`ASCII_FOLD`] over all byte values; bytes of non-ASCII characters map to [`SEP`] so word runs stop there.
static FOLD_BYTE: [u8; 256] = {
    let mut t = [SEP; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = ASCII_FOLD[b];
        b += 1;
    }
    t
};

/// How one non-ASCII character folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// Removed from the view.
    Drop,
    /// Part of a separator run; `true` when it is a colon look-alike.
    Sep(bool),
    /// Replaced by `len` bytes of the pool starting at `off` (no leading or trailing separator).
    Text { off: u32, len: u8 },
}

/// Folds for the characters that get a table entry, built once.
struct FoldTable {
    bmp: Vec<Fold>,
    supp: Vec<Fold>,
    pool: Vec<u8>,
}

/// First code point of the supplementary block that is tabled (mathematical alphanumerics).
const SUPP_START: u32 = 0x1D400;
/// One past the last tabled supplementary code point (end of enclosed alphanumeric supplement).
const SUPP_END: u32 = 0x1F200;

fn table() -> &'static FoldTable {
    static TABLE: OnceLock<FoldTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut pool = Vec::with_capacity(1 << 16);
        let mut fold_range = |lo: u32, hi: u32| -> Vec<Fold> {
            (lo..hi)
                .map(|cp| match char::from_u32(cp) {
                    Some(c) if !c.is_ascii() => fold_into_pool(c, &mut pool),
                    // ASCII never reaches the table; surrogates are not characters.
                    _ => Fold::Drop,
                })
                .collect()
        };
        let bmp = fold_range(0, 0x1_0000);
        let supp = fold_range(SUPP_START, SUPP_END);
        FoldTable { bmp, supp, pool }
    })
}

/// Characters removed before matching that `unicode-security`'s default-ignorable test does not cover.
fn is_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
        | '\u{80}'..='\u{9F}'
        | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{02BC}')
        || is_combining_mark(c)
}

/// Folds one non-ASCII character and, for text, appends its bytes to `pool`.
fn fold_into_pool(c: char, pool: &mut Vec<u8>) -> Fold {
    let folded = fold_string(c);
    let mut bytes = Vec::with_capacity(folded.len());
    let mut pending_sep: Option<bool> = None;
    let mut any_sep = None;
    for d in folded.chars() {
        let class = if d.is_ascii() {
            ASCII_FOLD[d as usize]
        } else if d.is_alphanumeric() {
            0
        } else if is_ignorable(d) {
            DROP
        } else {
            SEP
        };
        match class {
            DROP => {}
            SEP | COLON => {
                let colon = class == COLON;
                pending_sep = Some(pending_sep.unwrap_or(false) | colon);
                any_sep = Some(any_sep.unwrap_or(false) | colon);
            }
            _ => {
                if let Some(colon) = pending_sep.take()
                    && !bytes.is_empty()
                {
                    bytes.push(if colon { b':' } else { b' ' });
                }
                if class == 0 {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(d.encode_utf8(&mut buf).as_bytes());
                } else {
                    bytes.push(class);
                }
            }
        }
    }
    if bytes.is_empty() {
        return match any_sep {
            Some(colon) => Fold::Sep(colon),
            None => Fold::Drop,
        };
    }
    match (u32::try_from(pool.len()), u8::try_from(bytes.len())) {
        (Ok(off), Ok(len)) => {
            pool.extend_from_slice(&bytes);
            Fold::Text { off, len }
        }
        // A fold longer than 255 bytes does not exist in Unicode; treat it as a separator if it ever does.
        _ => Fold::Sep(false),
    }
}

/// NFKC, then the confusable skeleton, then lower case, for one character.
fn fold_string(c: char) -> String {
    if is_ignorable(c) {
        return String::new();
    }
    if c.is_whitespace() {
        return " ".to_owned();
    }
    let mut out = String::new();
    let mut buf = [0u8; 4];
    for d in c.encode_utf8(&mut buf).nfkc() {
        if d.is_ascii() {
            out.push(d);
        } else if !is_ignorable(d) {
            out.push_str(&fold_confusable(d));
        }
    }
    out
}

/// The skeleton of one character in lower case, preferring an ASCII result.
fn fold_confusable(d: char) -> String {
    let mut buf = [0u8; 4];
    let sk: String = unicode_security::skeleton(d.encode_utf8(&mut buf))
        .filter(|x| !is_combining_mark(*x))
        .collect();
    if let Some(ascii) = ascii_prototype(&sk) {
        return ascii;
    }
    let lower: String = d.to_lowercase().collect();
    let sk2: String = unicode_security::skeleton(&lower)
        .filter(|x| !is_combining_mark(*x))
        .collect();
    if let Some(ascii) = ascii_prototype(&sk2) {
        return ascii;
    }
    lower
}

/// An ASCII prototype in lower case; `rn` is the skeleton of `m` and its look-alikes.
fn ascii_prototype(sk: &str) -> Option<String> {
    if sk.is_empty() || !sk.is_ascii() {
        return None;
    }
    let lower = sk.to_ascii_lowercase();
    Some(if lower == "rn" { "m".to_owned() } else { lower })
}

/// How a character outside the tables folds (computed on the fly).
fn fold_slow(c: char, scratch: &mut Vec<u8>) -> Fold {
    if is_ignorable(c) || unicode_security_ignorable(c) {
        return Fold::Drop;
    }
    if !c.is_alphanumeric() {
        return Fold::Sep(false);
    }
    scratch.clear();
    fold_into_pool(c, scratch)
}

/// `unicode-security` keeps its default-ignorable table private; its skeleton drops them, so a character
/// whose skeleton is empty is one.
fn unicode_security_ignorable(c: char) -> bool {
    let mut buf = [0u8; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_none()
}

/// One piece of the offset map.
#[derive(Clone, Copy, Debug)]
struct Seg {
    /// First view byte of the segment.
    norm: u32,
    /// First original byte.
    orig: u32,
    /// For a group, one past the last original byte; unused for a linear segment.
    orig_end: u32,
    /// Whether view bytes map one to one onto original bytes.
    linear: bool,
}

/// The normalized view of a text (see the module docs).
#[derive(Debug)]
pub(crate) struct Normalized {
    text: Vec<u8>,
    segs: Vec<Seg>,
}

/// Largest input one [`Normalized`] covers: offsets are stored as `u32`.
///
/// # Security
/// Longer inputs are scanned in overlapping windows by the caller (`scan`), never truncated, so an injection
/// placed after a long filler is still seen.
pub(crate) const MAX_VIEW_INPUT: usize = 1 << 30;
const _: () = assert!(
    MAX_VIEW_INPUT < u32::MAX as usize / 2,
    "view offsets must fit in u32"
);

struct Builder {
    text: Vec<u8>,
    segs: Vec<Seg>,
    /// `orig - norm` of the current linear segment, when the last byte pushed was linear.
    delta: Option<u32>,
    /// Whether the last byte pushed is a separator.
    prev_sep: bool,
}

impl Builder {
    #[inline]
    fn norm_len(&self) -> u32 {
        // Inputs are at most MAX_VIEW_INPUT bytes and folds are bounded, so the view fits in u32.
        u32::try_from(self.text.len()).unwrap_or(u32::MAX)
    }

    #[inline(always)]
    fn push_linear(&mut self, byte: u8, orig: u32) {
        let len = self.norm_len();
        let delta = orig.wrapping_sub(len);
        if self.delta != Some(delta) {
            self.segs.push(Seg {
                norm: len,
                orig,
                orig_end: 0,
                linear: true,
            });
            self.delta = Some(delta);
        }
        self.text.push(byte);
    }

    #[inline]
    fn push_group(&mut self, bytes: &[u8], orig: u32, orig_end: u32) {
        let len = self.norm_len();
        self.segs.push(Seg {
            norm: len,
            orig,
            orig_end,
            linear: false,
        });
        self.delta = None;
        self.text.extend_from_slice(bytes);
    }

    /// A separator run is one byte at the position of its first character; later ones only turn it into a
    /// colon when they are one.
    #[inline(always)]
    fn fold_into_run(&mut self, colon: bool) {
        if colon && let Some(last) = self.text.last_mut() {
            *last = b':';
        }
    }
}

impl Normalized {
    /// Builds the view of `input` (at most [`MAX_VIEW_INPUT`] bytes; longer input is cut there).
    #[allow(clippy::cast_possible_truncation)] // reason: offsets are below MAX_VIEW_INPUT, asserted to fit in u32
    pub(crate) fn new(input: &str) -> Self {
        let input = crate::scan::prefix_at_boundary(input, MAX_VIEW_INPUT);
        let bytes = input.as_bytes();
        let mut b = Builder {
            text: Vec::with_capacity(bytes.len() + 2),
            segs: Vec::with_capacity(bytes.len() / 16 + 4),
            delta: None,
            prev_sep: true,
        };
        b.push_group(b" ", 0, 0);
        let mut scratch = Vec::new();
        let mut i = 0usize;
        while i < bytes.len() {
            let byte = bytes[i];
            if byte < 0x80 {
                // The ASCII fast path: one table lookup per byte.
                let class = ASCII_FOLD[byte as usize];
                let pos = i as u32; // i < MAX_VIEW_INPUT < u32::MAX
                i += 1;
                if class < 0x80 {
                    b.push_linear(class, pos);
                    b.prev_sep = false;
                    // The rest of the word keeps the same offset delta: fold it without further checks.
                    while let Some(&x) = bytes.get(i) {
                        let c = FOLD_BYTE[x as usize];
                        if c >= 0x80 {
                            break;
                        }
                        b.text.push(c);
                        i += 1;
                    }
                } else if class != DROP {
                    if b.prev_sep {
                        b.fold_into_run(class == COLON);
                    } else {
                        b.push_linear(if class == COLON { b':' } else { b' ' }, pos);
                        b.prev_sep = true;
                    }
                }
                continue;
            }
            let Some(c) = input[i..].chars().next() else {
                break;
            };
            let clen = c.len_utf8();
            let pos = i as u32;
            let end = pos + clen as u32;
            let cp = c as u32;
            let tabled = cp < 0x1_0000 || (SUPP_START..SUPP_END).contains(&cp);
            let fold = if cp < 0x1_0000 {
                table().bmp[cp as usize]
            } else if tabled {
                table().supp[(cp - SUPP_START) as usize]
            } else {
                fold_slow(c, &mut scratch)
            };
            match fold {
                Fold::Drop => {}
                Fold::Sep(colon) => {
                    if b.prev_sep {
                        b.fold_into_run(colon);
                    } else {
                        b.push_group(if colon { b":" } else { b" " }, pos, end);
                        b.prev_sep = true;
                    }
                }
                Fold::Text { off, len } => {
                    let off = off as usize;
                    let range = off..off + usize::from(len);
                    if tabled {
                        b.push_group(&table().pool[range], pos, end);
                    } else {
                        let s = std::mem::take(&mut scratch);
                        b.push_group(&s[range], pos, end);
                        scratch = s;
                    }
                    b.prev_sep = false;
                }
            }
            i += clen;
        }
        if !b.prev_sep {
            let end = bytes.len() as u32;
            b.push_group(b" ", end, end);
        }
        Normalized {
            text: b.text,
            segs: b.segs,
        }
    }

    /// The view's bytes: lower-case folded words separated by single `' '` or `':'` bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.text
    }

    fn seg_index(&self, n: u32) -> usize {
        self.segs.partition_point(|s| s.norm <= n).saturating_sub(1)
    }

    /// The original byte span covered by view bytes `start..end` (`start < end`), on character boundaries.
    pub(crate) fn orig_span(&self, start: usize, end: usize) -> (usize, usize) {
        if self.segs.is_empty() || start >= end {
            return (0, 0);
        }
        let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        let (s, e) = (to_u32(start), to_u32(end - 1));
        let a = &self.segs[self.seg_index(s)];
        let orig_start = if a.linear {
            a.orig + (s - a.norm)
        } else {
            a.orig
        };
        let z = &self.segs[self.seg_index(e)];
        let orig_end = if z.linear {
            z.orig + (e - z.norm) + 1
        } else {
            z.orig_end
        };
        (orig_start as usize, (orig_end.max(orig_start)) as usize)
    }
}

/// The normalized form of a rule phrase, without the surrounding separators.
pub(crate) fn normalize_phrase(phrase: &str) -> Vec<u8> {
    let n = Normalized::new(phrase);
    let b = n.bytes();
    let start = usize::from(b.first().is_some_and(|&x| x == b' ' || x == b':'));
    let end = b.len() - usize::from(b.len() > start && matches!(b[b.len() - 1], b' ' | b':'));
    b[start..end].to_vec()
}

/// Whether `c` is a bracket that could pass for the envelope's `⟦` (`Some(true)`) or `⟧` (`Some(false)`).
///
/// Covers the mathematical, CJK, fullwidth, small, vertical and ornamental brackets, and anything whose
/// confusable skeleton is one of the two delimiters.
pub(crate) fn fold_is_bracket(c: char) -> Option<bool> {
    let cp = c as u32;
    let paired = |lo: u32, hi: u32| {
        if (lo..=hi).contains(&cp) {
            Some((cp - lo).is_multiple_of(2))
        } else {
            None
        }
    };
    let found = paired(0x27E6, 0x27EF)
        .or_else(|| paired(0x3008, 0x301B))
        .or_else(|| paired(0x2983, 0x2998))
        .or_else(|| paired(0x2E22, 0x2E29))
        .or_else(|| paired(0x2045, 0x2046))
        .or_else(|| paired(0x2772, 0x2775))
        .or_else(|| paired(0x2329, 0x232A))
        .or_else(|| paired(0xFE17, 0xFE18))
        .or_else(|| paired(0xFE35, 0xFE44))
        .or_else(|| paired(0xFE59, 0xFE5E))
        .or_else(|| paired(0xFF5F, 0xFF60));
    if found.is_some() {
        return found;
    }
    match c {
        '\u{FF3B}' | '\u{FF5B}' | '\u{FF08}' => return Some(true),
        '\u{FF3D}' | '\u{FF5D}' | '\u{FF09}' => return Some(false),
        _ => {}
    }
    let mut buf = [0u8; 4];
    let mut sk = unicode_security::skeleton(c.encode_utf8(&mut buf));
    match (sk.next(), sk.next()) {
        (Some('\u{27E6}'), None) => Some(true),
        (Some('\u{27E7}'), None) => Some(false),
        _ => None,
    }
}

/// Whether a view byte is a separator.
#[inline]
pub(crate) fn is_sep(b: u8) -> bool {
    b == b' ' || b == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> String {
        String::from_utf8(Normalized::new(s).bytes().to_vec()).unwrap()
    }

    #[test]
    fn folds_each_family() {
        assert_eq!(
            view("Ignore   Previous\nInstructions"),
            " ignore previous instructions "
        );
        assert_eq!(
            view("ignore-previous-instructions"),
            " ignore previous instructions "
        );
        assert_eq!(view("ign\u{200B}ore pr\u{00AD}evious"), " ignore previous ");
        assert_eq!(view("іgnоrе"), " ignore ");
        assert_eq!(view("ＩＧＮＯＲＥ"), " ignore ");
        assert_eq!(view("1gn0r3"), " ignore ");
        assert_eq!(view("new instructions :  do"), " new instructions:do ");
        assert_eq!(view("  a  "), " a ");
        assert_eq!(view("𝐢𝐠𝐧𝐨𝐫𝐞"), " ignore ");
        assert_eq!(view("ig\u{E0041}nore"), " ignore ");
        assert_eq!(view("you're"), " youre ");
    }

    #[test]
    fn spans_map_back() {
        let s = "say: іgnore  previous";
        let n = Normalized::new(s);
        let v = n.bytes();
        let at = v.windows(6).position(|w| w == b"ignore").unwrap();
        let (a, b) = n.orig_span(at, at + 6);
        assert_eq!(&s[a..b], "іgnore");
    }
}
