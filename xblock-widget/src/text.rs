//! Small string helpers that keep panicking code out of the .wasm: `str` range indexing panics
//! with a formatted message (pulling `Debug` formatting and Unicode tables, several KB), and
//! `str::find(&str)` brings a two-way searcher. The widget's strings are short; plain loops do.

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
    if n.is_empty() {
        return Some(0);
    }
    (0..h.len().checked_sub(n.len())? + 1).find(|&i| h[i..].starts_with(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_str_finds() {
        assert_eq!(find_str("abcabc", "ca"), Some(2));
        assert_eq!(find_str("abc", "abcd"), None);
        assert_eq!(find_str("abc", ""), Some(0));
        assert_eq!(find_str("é**x", "**"), Some(2));
    }

    #[test]
    fn sub_never_panics() {
        assert_eq!(sub("hello", 1..3), "el");
        assert_eq!(sub("hello", 3..), "lo");
        assert_eq!(sub("hello", ..9), "");
        assert_eq!(sub("é", 1..), "");
    }
}
