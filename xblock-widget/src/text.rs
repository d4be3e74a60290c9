//! Small string helpers that keep code out of the .wasm: `str` range indexing panics with a
//! formatted message (pulling `Debug` formatting and Unicode tables, several KB), `str::find(&str)`
//! brings a two-way searcher, `str::find(char)`, `rfind(char)`, `rsplit_once(char)` and `lines()` the
//! standard library's char searcher (with `memchr` and a bounds check whose panic formats numbers:
//! 1.8 KB, hence [`find_byte`], [`rfind_byte`], [`lines`]), and `format!` / `to_string()` bring
//! `core::fmt` (the widget builds its strings with [`cat`] and [`decimal`]). The widget's
//! strings are short; plain loops do.

/// `text[range]`, or `""` when the range is out of bounds or not on character boundaries (callers
/// only pass ranges they found on boundaries).
#[must_use]
pub fn sub<R: std::slice::SliceIndex<str, Output = str>>(text: &str, range: R) -> &str {
    text.get(range).unwrap_or_default()
}

/// The byte index of `needle` in `haystack`: a plain loop, because `str::find(&str)` brings a
/// two-way searcher.
#[must_use]
pub fn find_str(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let mut i = 0;
    while let Some(rest) = h.get(i..) {
        if rest.starts_with(n) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The byte index of the first `needle`, an ASCII character (so the index is a character boundary):
/// `text.find(char)` without the standard char searcher.
#[must_use]
pub fn find_byte(text: &str, needle: u8) -> Option<usize> {
    // A plain loop: the iterator's compiles to twice the code here.
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The byte index of the last `needle`, an ASCII character: `text.rfind(char)` without the char
/// searcher.
#[must_use]
pub fn rfind_byte(text: &str, needle: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        if bytes.get(i) == Some(&needle) {
            return Some(i);
        }
    }
    None
}

/// The lines of `text`, exactly as `str::lines` gives them (split at `\n`, a `\r` before it dropped,
/// no empty line after a final `\n`), without the char searcher.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = find_byte(rest, b'\n') else {
            return Some(std::mem::take(&mut rest));
        };
        let line = sub(rest, ..end);
        rest = sub(rest, end + 1..);
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// `parts` joined: `[…].concat()` without its generic body (and the slice-length panic it formats).
#[must_use]
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `text` up to its first byte in `stops` (ASCII): `text.split([…]).next()` without the standard
/// char searcher.
#[must_use]
pub fn head<'a>(text: &'a str, stops: &[u8]) -> &'a str {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(b) = bytes.get(i) {
        if stops.iter().any(|s| s == b) {
            break;
        }
        i += 1;
    }
    sub(text, ..i)
}

/// The first word of `text` (split at ASCII whitespace): `split_whitespace().next()` without its
/// Unicode tables' iterator.
#[must_use]
pub fn first_word(text: &str) -> &str {
    head(text.trim_start(), b" \t\n\r\x0c")
}

/// A whole number of at most nine ASCII digits (no sign), without `str::parse`.
#[must_use]
pub fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    let mut n = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

/// `n` in decimal, without `core::fmt`.
#[must_use]
pub fn decimal(n: u64) -> String {
    let mut out = String::new();
    ibal_protocol::json::push_uint(&mut out, n);
    out
}

/// Unpadded base64url (RFC 4648 §5): for random ids and nonces.
#[must_use]
pub fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let n = (u32::from(group[0]) << 16)
            | (u32::from(group.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(group.get(2).copied().unwrap_or(0));
        for i in 0..=group.len() {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn find_str_finds() {
        assert_eq!(find_str("abcabc", "ca"), Some(2));
        assert_eq!(find_str("abc", "abcd"), None);
        assert_eq!(find_str("abc", ""), Some(0));
        assert_eq!(find_str("é**x", "**"), Some(2));
    }

    #[test]
    fn byte_searches_match_the_standard_ones() {
        for text in ["", "a", "{x}", "é{ü}é", "no brace", "}{", "a/b/c/", "@x@y"] {
            for needle in [b'{', b'}', b'/', b'@'] {
                assert_eq!(find_byte(text, needle), text.find(char::from(needle)), "{text:?} {needle}");
                assert_eq!(rfind_byte(text, needle), text.rfind(char::from(needle)), "{text:?} {needle}");
            }
        }
    }

    #[test]
    fn lines_match_str_lines() {
        let endings = ["", "\n", "\n\n", "\r\n", "\r", "\r\r\n", "\n\r"];
        let bodies = ["", "a", "a\nb", "a\r\nb", "a\rb", "\n\nb", "é\r\nü"];
        for text in bodies.iter().flat_map(|b| endings.iter().map(move |e| [b, *e].concat())) {
            let text = text.as_str();
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn heads_words_and_numbers() {
        for text in ["", "a", "a?b#c", "#x", "https://h/p?q#f", "a/b"] {
            assert_eq!(head(text, b"?#"), text.split(['?', '#']).next().unwrap_or_default(), "{text:?}");
        }
        for text in ["", "  rust  x", "rust", "\tpy\n", "http://x \"title\""] {
            assert_eq!(first_word(text), text.split_whitespace().next().unwrap_or_default(), "{text:?}");
        }
        assert_eq!(number("900"), Some(900));
        assert_eq!(number("007"), Some(7));
        assert_eq!(number("999999999"), Some(999_999_999));
        for bad in ["", "-1", "+1", "1.5", "12a", "1234567890", " 1"] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 9, 10, 1000, 4_294_967_296, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn sub_never_panics() {
        assert_eq!(sub("hello", 1..3), "el");
        assert_eq!(sub("hello", 3..), "lo");
        assert_eq!(sub("hello", ..9), "");
        assert_eq!(sub("é", 1..), "");
    }
}
