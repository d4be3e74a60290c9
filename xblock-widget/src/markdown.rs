//! A small, safe Markdown subset for assistant replies: paragraphs (single newlines kept as line
//! breaks), `#` headings, `**bold**`, `*em*`, `` `code` ``, fenced code blocks, `-`/`*`/`1.` lists,
//! `[links](https://…)` and bare `https://…` links.
//!
//! The parser produces a tree ([`Block`], [`Inline`]) of plain strings; the view turns it into DOM
//! nodes with text nodes only, so no input can become markup. Links keep only `http:`, `https:` and
//! `mailto:` targets; any other link is shown as its text.

use crate::text::{self, find_byte, find_str, sub};

/// A block of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A paragraph.
    Paragraph(Vec<Inline>),
    /// A heading, level 1 to 6.
    Heading(u8, Vec<Inline>),
    /// A fenced code block (possibly unterminated while streaming).
    Code {
        /// The info string's first word (`rust`, `python`…), when given.
        lang: Option<String>,
        /// The code, verbatim.
        text: String,
    },
    /// A list.
    List {
        /// Numbered (`1.`) or bulleted.
        ordered: bool,
        /// The first number of a numbered list.
        start: u32,
        /// The items.
        items: Vec<Vec<Inline>>,
    },
}

/// Inline content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// Text.
    Text(String),
    /// `**strong**`.
    Strong(Vec<Inline>),
    /// `*emphasis*`.
    Em(Vec<Inline>),
    /// `` `code` ``.
    Code(String),
    /// A link with a safe target.
    Link {
        /// `http:`, `https:` or `mailto:` only.
        href: String,
        /// The label.
        children: Vec<Inline>,
    },
    /// A line break inside a paragraph or list item.
    Break,
}

/// The link target if it is safe (`http:`, `https:`, `mailto:`, no spaces or control characters).
#[must_use]
pub fn safe_href(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    let ok =
        ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    ok.then(|| url.to_owned())
}

enum Line<'a> {
    Blank,
    Fence(Option<String>),
    Heading(u8, &'a str),
    Item { ordered: bool, number: u32, text: &'a str },
    Text(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let trimmed = line.trim_start();
    if trimmed.trim().is_empty() {
        return Line::Blank;
    }
    if let Some(info) = trimmed.strip_prefix("```") {
        let lang = Some(text::first_word(info)).filter(|w| !w.is_empty()).map(str::to_owned);
        return Line::Fence(lang);
    }
    let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) && sub(trimmed, hashes..).starts_with(' ') {
        // The range check bounds hashes to 6.
        return Line::Heading(hashes as u8, sub(trimmed, hashes..).trim());
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = trimmed.strip_prefix(bullet) {
            return Line::Item { ordered: false, number: 0, text };
        }
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = sub(trimmed, digits..);
        if let Some(text) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            let number = text::number(sub(trimmed, ..digits)).unwrap_or(1);
            return Line::Item { ordered: true, number, text };
        }
    }
    Line::Text(line)
}

/// Parses a reply.
#[must_use]
pub fn parse(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<(bool, u32, Vec<String>)> = None;
    let mut lines = text::lines(source);

    fn flush_paragraph(paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>) {
        if !paragraph.is_empty() {
            blocks.push(Block::Paragraph(inline_lines(paragraph.iter().map(|l| l.trim()))));
            paragraph.clear();
        }
    }
    fn flush_list(list: &mut Option<(bool, u32, Vec<String>)>, blocks: &mut Vec<Block>) {
        if let Some((ordered, start, items)) = list.take() {
            let items = items.iter().map(|item| inline_lines(text::lines(item))).collect();
            blocks.push(Block::List { ordered, start, items });
        }
    }

    while let Some(line) = lines.next() {
        match classify(line) {
            Line::Blank => {
                flush_paragraph(&mut paragraph, &mut blocks);
                flush_list(&mut list, &mut blocks);
            }
            Line::Fence(lang) => {
                flush_paragraph(&mut paragraph, &mut blocks);
                flush_list(&mut list, &mut blocks);
                let mut text = String::new();
                for inner in lines.by_ref() {
                    if inner.trim_start().starts_with("```") {
                        break;
                    }
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(inner);
                }
                blocks.push(Block::Code { lang, text });
            }
            Line::Heading(level, text) => {
                flush_paragraph(&mut paragraph, &mut blocks);
                flush_list(&mut list, &mut blocks);
                blocks.push(Block::Heading(level, parse_inline(text)));
            }
            Line::Item { ordered, number, text } => {
                flush_paragraph(&mut paragraph, &mut blocks);
                if list.as_ref().is_some_and(|(o, _, _)| *o != ordered) {
                    flush_list(&mut list, &mut blocks);
                }
                match &mut list {
                    Some((_, _, items)) => items.push(text.trim().to_owned()),
                    None => list = Some((ordered, number, vec![text.trim().to_owned()])),
                }
            }
            Line::Text(text) => match &mut list {
                // A line after an item continues it.
                Some((_, _, items)) => {
                    if let Some(last) = items.last_mut() {
                        last.push('\n');
                        last.push_str(text.trim());
                    }
                }
                None => paragraph.push(text),
            },
        }
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    flush_list(&mut list, &mut blocks);
    blocks
}

/// Inline content of several lines, with breaks between them.
fn inline_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(Inline::Break);
        }
        out.extend(parse_inline(line));
    }
    out
}

/// Parses one line of inline Markdown.
#[must_use]
pub fn parse_inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    while let Some(&c) = bytes.get(i) {
        let rest = sub(text, i..);
        // Backslash escapes of punctuation.
        if c == b'\\'
            && let Some(next) = sub(rest, 1..).chars().next()
            && next.is_ascii_punctuation()
        {
            buf.push(next);
            i += 1 + next.len_utf8();
            continue;
        }
        let at_word_start = i.checked_sub(1).and_then(|before| bytes.get(before)).is_none_or(|&b| !is_word_byte(b));
        if let Some((node, used)) = try_inline(rest, at_word_start) {
            if !buf.is_empty() {
                out.push(Inline::Text(std::mem::take(&mut buf)));
            }
            out.push(node);
            i += used;
            continue;
        }
        let ch = rest.chars().next().unwrap_or_default();
        buf.push(ch);
        i += ch.len_utf8().max(1);
    }
    if !buf.is_empty() {
        out.push(Inline::Text(buf));
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// An inline construct at the start of `rest`, with the bytes it used.
fn try_inline(rest: &str, at_word_start: bool) -> Option<(Inline, usize)> {
    match *rest.as_bytes().first()? {
        b'`' => {
            let ticks = rest.bytes().take_while(|&b| b == b'`').count();
            let fence = sub(rest, ..ticks);
            let close = find_str(sub(rest, ticks..), fence)?;
            let code = sub(rest, ticks..ticks + close);
            // Only when the run closes with exactly as many backticks.
            if sub(rest, ticks + close + ticks..).starts_with('`') {
                return None;
            }
            let code = if code.len() > 2 && code.starts_with(' ') && code.ends_with(' ') {
                sub(code, 1..code.len() - 1)
            } else {
                code
            };
            Some((Inline::Code(code.to_owned()), ticks + close + ticks))
        }
        marker @ (b'*' | b'_') => {
            if marker == b'_' && !at_word_start {
                return None;
            }
            let double = rest.as_bytes().get(1) == Some(&marker);
            let delim = if double { sub(rest, ..2) } else { sub(rest, ..1) };
            let body_start = delim.len();
            let body = sub(rest, body_start..);
            if body.starts_with(char::is_whitespace) || body.is_empty() {
                return None;
            }
            let close = find_closing(body, delim, marker)?;
            let inner = parse_inline(sub(body, ..close));
            let node = if double { Inline::Strong(inner) } else { Inline::Em(inner) };
            Some((node, body_start + close + delim.len()))
        }
        b'[' => {
            let label_end = matching_bracket(rest)?;
            let after = sub(rest, label_end + 1..);
            let target = after.strip_prefix('(')?;
            let target_end = find_byte(target, b')')?;
            let href = text::first_word(sub(target, ..target_end));
            let label = parse_inline(sub(rest, 1..label_end));
            let used = label_end + 2 + target_end + 1;
            match safe_href(href) {
                Some(href) => Some((Inline::Link { href, children: label }, used)),
                // An unsafe target: keep the label's text, drop the link.
                None => Some((Inline::Text(plain_text(&label)), used)),
            }
        }
        b'h' | b'H' if at_word_start => {
            let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                return None;
            }
            let end = rest.find(|c: char| c.is_whitespace() || c == '<' || c == '>').unwrap_or(rest.len());
            // Trailing punctuation is the sentence's (a byte loop: `trim_end_matches([…])` brings a searcher).
            let mut url = sub(rest, ..end);
            while let Some(b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b'\'' | b'"') = url.as_bytes().last() {
                url = sub(url, ..url.len() - 1);
            }
            let href = safe_href(url)?;
            Some((Inline::Link { href, children: vec![Inline::Text(url.to_owned())] }, url.len()))
        }
        _ => None,
    }
}

/// The text of inline content, formatting dropped.
#[must_use]
pub fn plain_text(nodes: &[Inline]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Inline::Text(t) | Inline::Code(t) => out.push_str(t),
            Inline::Strong(c) | Inline::Em(c) | Inline::Link { children: c, .. } => out.push_str(&plain_text(c)),
            Inline::Break => out.push('\n'),
        }
    }
    out
}

/// The closing delimiter of an emphasis body: not preceded by whitespace, and for `_` not followed
/// by a word character.
fn find_closing(body: &str, delim: &str, marker: u8) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(pos) = find_str(sub(body, from..), delim) {
        let at = from + pos;
        let before_ok = at.checked_sub(1).and_then(|i| bytes.get(i)).is_some_and(|b| !b.is_ascii_whitespace());
        let after = bytes.get(at + delim.len()).copied();
        // `**` must not be read as the end of a single `*`.
        let not_longer = delim.len() == 2 || after != Some(marker);
        let after_ok = marker != b'_' || after.is_none_or(|b| !is_word_byte(b));
        if before_ok && not_longer && after_ok {
            return Some(at);
        }
        from = at + delim.len().max(1);
        if delim.len() == 1 && after == Some(marker) {
            from += 1;
        }
    }
    None
}

/// The index of the `]` closing the `[` at index 0, allowing nested brackets.
fn matching_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    #[test]
    fn paragraphs_and_breaks() {
        assert_eq!(
            parse("Hello\nworld\n\nSecond"),
            vec![Block::Paragraph(vec![t("Hello"), Inline::Break, t("world")]), Block::Paragraph(vec![t("Second")])]
        );
        assert_eq!(parse(""), vec![]);
        assert_eq!(parse("\n\n  \n"), vec![]);
    }

    #[test]
    fn emphasis_strong_and_code() {
        assert_eq!(
            parse_inline("a **bold** and *em* and `x < y`"),
            vec![
                t("a "),
                Inline::Strong(vec![t("bold")]),
                t(" and "),
                Inline::Em(vec![t("em")]),
                t(" and "),
                Inline::Code("x < y".into())
            ]
        );
        assert_eq!(
            parse_inline("**bold *em* inside**"),
            vec![Inline::Strong(vec![t("bold "), Inline::Em(vec![t("em")]), t(" inside")])]
        );
        assert_eq!(parse_inline("__b__ _e_"), vec![Inline::Strong(vec![t("b")]), t(" "), Inline::Em(vec![t("e")])]);
        assert_eq!(parse_inline("`` a`b ``"), vec![Inline::Code("a`b".into())]);
    }

    #[test]
    fn unmatched_markers_stay_text() {
        assert_eq!(parse_inline("2 * 3 * 4"), vec![t("2 * 3 * 4")]);
        assert_eq!(parse_inline("snake_case_name"), vec![t("snake_case_name")]);
        assert_eq!(parse_inline("**open"), vec![t("**open")]);
        assert_eq!(parse_inline("`open"), vec![t("`open")]);
        assert_eq!(parse_inline(r"\*not em\*"), vec![t("*not em*")]);
        assert_eq!(parse_inline("[no link]"), vec![t("[no link]")]);
    }

    #[test]
    fn links_only_with_safe_targets() {
        assert_eq!(
            parse_inline("see [the docs](https://example.com/a?b=1) now"),
            vec![
                t("see "),
                Inline::Link { href: "https://example.com/a?b=1".into(), children: vec![t("the docs")] },
                t(" now")
            ]
        );
        assert_eq!(
            parse_inline("[mail](mailto:a@b.c)"),
            vec![Inline::Link { href: "mailto:a@b.c".into(), children: vec![t("mail")] }]
        );
        assert_eq!(parse_inline("[x](javascript:alert(1))"), vec![t("x"), t(")")]);
        assert_eq!(parse_inline("[x](JavaScript:alert)"), vec![t("x")]);
        assert_eq!(parse_inline("[x](data:text/html,hi)"), vec![t("x")]);
        assert_eq!(parse_inline("[x](/relative)"), vec![t("x")]);
        assert_eq!(parse_inline("[**b** c](ftp://x)"), vec![t("b c")]);
    }

    #[test]
    fn bare_urls_become_links() {
        assert_eq!(
            parse_inline("Go to https://example.com/x. Then"),
            vec![
                t("Go to "),
                Inline::Link { href: "https://example.com/x".into(), children: vec![t("https://example.com/x")] },
                t(". Then")
            ]
        );
        assert_eq!(parse_inline("xhttps://a.b"), vec![t("xhttps://a.b")]);
    }

    #[test]
    fn safe_href_rules() {
        assert_eq!(safe_href(" https://a.b "), Some("https://a.b".into()));
        assert_eq!(safe_href("HTTP://A.B"), Some("HTTP://A.B".into()));
        assert_eq!(safe_href("https://"), None);
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href("https://a.b/\u{0}x"), None);
        assert_eq!(safe_href("vbscript:x"), None);
    }

    #[test]
    fn fenced_code_is_verbatim() {
        assert_eq!(
            parse("Intro\n```rust\nfn main() { **x** }\n<script>\n```\nAfter"),
            vec![
                Block::Paragraph(vec![t("Intro")]),
                Block::Code { lang: Some("rust".into()), text: "fn main() { **x** }\n<script>".into() },
                Block::Paragraph(vec![t("After")]),
            ]
        );
        // Unterminated while streaming: code to the end.
        assert_eq!(parse("```\nlet a"), vec![Block::Code { lang: None, text: "let a".into() }]);
    }

    #[test]
    fn lists_and_headings() {
        assert_eq!(
            parse("# Title\n- one\n- **two**\n  more\n\n3. three\n4) four"),
            vec![
                Block::Heading(1, vec![t("Title")]),
                Block::List {
                    ordered: false,
                    start: 0,
                    items: vec![vec![t("one")], vec![Inline::Strong(vec![t("two")]), Inline::Break, t("more")]]
                },
                Block::List { ordered: true, start: 3, items: vec![vec![t("three")], vec![t("four")]] },
            ]
        );
        assert_eq!(parse("#hashtag"), vec![Block::Paragraph(vec![t("#hashtag")])]);
    }

    #[test]
    fn html_is_just_text() {
        let blocks = parse("<script>alert(1)</script> <img src=x onerror=alert(1)>");
        assert_eq!(blocks, vec![Block::Paragraph(vec![t("<script>alert(1)</script> <img src=x onerror=alert(1)>")])]);
    }

    #[test]
    fn multibyte_text_is_safe() {
        assert_eq!(
            parse_inline("été **très** chaud — ok"),
            vec![t("été "), Inline::Strong(vec![t("très")]), t(" chaud — ok")]
        );
        assert_eq!(parse_inline("日本*語*"), vec![t("日本"), Inline::Em(vec![t("語")])]);
    }
}
