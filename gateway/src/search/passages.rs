//! A block's text cut into passages small enough to put several in a prompt, and short snippets of
//! them to show under a reply.

/// The most characters a passage holds: several fit a prompt beside the unit's content.
pub const MAX_PASSAGE_CHARS: usize = 1200;

/// `text` cut into passages of at most `max` characters, at paragraph ends where it can, else at
/// sentence ends, else at spaces, else anywhere; blank text gives none.
pub fn passages(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut current = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        for piece in pieces(paragraph, max) {
            let joined = current.chars().count() + 2 + piece.chars().count();
            if !current.is_empty() && joined > max {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(piece);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A paragraph in pieces of at most `max` characters.
fn pieces(paragraph: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = paragraph;
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(at, _)| at);
        let head = &rest[..limit];
        let cut = head
            .rfind(". ")
            .map(|at| at + 1)
            .filter(|&at| at > limit / 2)
            .or_else(|| head.rfind(' ').filter(|&at| at > limit / 2))
            .unwrap_or(limit);
        out.push(rest[..cut].trim());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The start of `text` in at most `max` characters, cut at a space, with "…" when cut.
pub fn snippet(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let limit = text.char_indices().nth(max.saturating_sub(1)).map_or(text.len(), |(at, _)| at);
    let head = &text[..limit];
    let cut = head.rfind(' ').filter(|&at| at > limit / 2).unwrap_or(limit);
    format!("{}…", head[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paragraphs_share_a_passage_and_long_text_is_cut_at_sentences() {
        assert_eq!(passages("One.\n\nTwo.", 100), ["One.\n\nTwo."]);
        assert!(passages("  \n\n ", 100).is_empty());
        let text = "First sentence here. Second sentence here. Third sentence here.";
        let cut = passages(text, 45);
        assert_eq!(cut, ["First sentence here. Second sentence here.", "Third sentence here."]);
        for passage in passages(&"word ".repeat(1000), 100) {
            assert!(passage.chars().count() <= 100, "{passage}");
        }
    }

    #[test]
    fn text_without_spaces_is_still_cut() {
        let cut = passages(&"é".repeat(250), 100);
        assert_eq!(cut.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [100, 100, 50]);
    }

    #[test]
    fn snippets_end_at_a_word() {
        assert_eq!(snippet("Light  reactions\nmake ATP.", 100), "Light reactions make ATP.");
        assert_eq!(snippet("Light reactions make ATP and NADPH.", 20), "Light reactions…");
        assert!(snippet(&"a".repeat(50), 10).chars().count() <= 10);
    }
}
