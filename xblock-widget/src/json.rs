//! A small JSON reader and writer, enough for the chat protocol's frames and the token responses.
//!
//! Measured: with `serde_json` (through `serde_json::Value`, no derive) and the float formatting and
//! parsing that came with it, the `.wasm` was 231 KB, over the 150 KB budget; with this module, 164 KB
//! before other trimming. It is pure Rust, so the protocol parsing stays unit-tested on the host. Numbers are read as `f64`
//! without `core`'s exact decimal conversion (the protocol's numbers are integers: sizes, counts,
//! seconds, milliseconds) and written as integers only.

use crate::text::sub;

/// A JSON value. Objects keep their members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Vec<(String, Value)>),
}

/// Nesting deeper than this is refused (no frame of the protocol comes close).
const MAX_DEPTH: u32 = 64;

impl Value {
    /// Parses a JSON text; `None` when it is not JSON.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut p = Parser { bytes: text.as_bytes(), text, pos: 0 };
        let value = p.value(0)?;
        p.ws();
        (p.pos == p.bytes.len()).then_some(value)
    }

    /// A member of an object.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number, if this is a non-negative integer.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        // In range by the checks; f64 → u64 saturates anyway.
        self.as_f64().filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n < 1.8e19).map(|n| n as u64)
    }

    /// The boolean, if this is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is an object.
    #[must_use]
    pub fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        if sub(self.text, self.pos..).starts_with(word) {
            self.pos += word.len();
            Some(value)
        } else {
            None
        }
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.bytes.get(self.pos)? {
            b'n' => self.literal("null", Value::Null),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Value::Array(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Some(Value::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    let value = self.value(depth + 1)?;
                    members.push((key, value));
                    if self.eat(b'}') {
                        return Some(Value::Object(members));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
            _ => None,
        }
    }

    fn digits(&mut self) -> (f64, u32) {
        let (mut value, mut count) = (0.0, 0);
        while let Some(d @ b'0'..=b'9') = self.bytes.get(self.pos) {
            value = value * 10.0 + f64::from(d - b'0');
            count += 1;
            self.pos += 1;
        }
        (value, count)
    }

    fn number(&mut self) -> Option<f64> {
        let negative = self.bytes.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let (mut value, count) = self.digits();
        if count == 0 {
            return None;
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            let (fraction, places) = self.digits();
            if places == 0 {
                return None;
            }
            value += fraction / 10f64.powi(places.min(300) as i32);
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            let minus = match self.bytes.get(self.pos) {
                Some(b'-') => true,
                Some(b'+') => false,
                _ => false,
            };
            if let Some(b'-' | b'+') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            let (exp, places) = self.digits();
            if places == 0 {
                return None;
            }
            let exp = exp.min(400.0) as i32;
            value *= 10f64.powi(if minus { -exp } else { exp });
        }
        Some(if negative { -value } else { value })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(digits, 16).ok()?;
        self.pos += 4;
        Some(code)
    }

    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Only ASCII bytes stop the scan, so this is a char boundary.
            out.push_str(sub(self.text, start..self.pos));
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let escaped = *self.bytes.get(self.pos)?;
                    self.pos += 1;
                    out.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let high = self.hex4()?;
                            let code =
                                if (0xd800..0xdc00).contains(&high) && sub(self.text, self.pos..).starts_with("\\u") {
                                    self.pos += 2;
                                    let low = self.hex4()?;
                                    if !(0xdc00..0xe000).contains(&low) {
                                        return None;
                                    }
                                    0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                                } else {
                                    high
                                };
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => return None,
                    });
                }
                // A raw control character.
                _ => return None,
            }
        }
    }
}

/// Appends `text` as a JSON string literal.
pub fn push_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the line separators that break old JS parsers.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(char::from(HEX[((code >> shift) & 0xf) as usize]));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a flat JSON object, member by member.
#[derive(Debug)]
pub struct ObjectWriter {
    out: String,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectWriter {
    /// `{`.
    #[must_use]
    pub fn new() -> Self {
        Self { out: String::from("{") }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_str(&mut self.out, key);
        self.out.push(':');
    }

    /// A string member.
    #[must_use]
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_str(&mut self.out, value);
        self
    }

    /// An integer member.
    #[must_use]
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        self.out.push_str(&value.to_string());
        self
    }

    /// A boolean member.
    #[must_use]
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// `}`: the text.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        let v = Value::parse(r#" {"a": [1, -2.5, 3e2, 1.5E-1, true, false, null], "b": {"c": "d"}, "e": ""} "#);
        let Some(v) = v else { panic!("no parse") };
        let a = v.get("a").and_then(Value::as_array).unwrap_or_default();
        assert_eq!(a.len(), 7);
        assert_eq!(a[0].as_u64(), Some(1));
        assert_eq!(a[1].as_f64(), Some(-2.5));
        assert_eq!(a[2].as_f64(), Some(300.0));
        assert!((a[3].as_f64().unwrap_or_default() - 0.15).abs() < 1e-12);
        assert_eq!(a[4].as_bool(), Some(true));
        assert_eq!(a[6], Value::Null);
        assert_eq!(v.get("b").and_then(|b| b.get("c")).and_then(Value::as_str), Some("d"));
        assert_eq!(v.get("e").and_then(Value::as_str), Some(""));
        assert_eq!(v.get("zz"), None);
        assert_eq!(Value::parse("1762000000123").and_then(|v| v.as_u64()), Some(1_762_000_000_123));
        assert_eq!(Value::parse("12.5").and_then(|v| v.as_u64()), None);
    }

    #[test]
    fn parses_string_escapes() {
        let v = Value::parse(r#""q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00 é""#);
        assert_eq!(v.as_ref().and_then(Value::as_str), Some("q\"b\\s/n\nt\tué😀 é"));
        assert_eq!(Value::parse(r#""\ud800x""#).as_ref().and_then(Value::as_str), Some("\u{fffd}x"));
    }

    #[test]
    fn rejects_what_is_not_json() {
        for text in [
            "",
            "{",
            "}",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "nul",
            "tru",
            "01x",
            "-",
            "1.",
            "1e",
            "\"a",
            "\"\\x\"",
            "\"a\nb\"",
            "[1] 2",
            "{'a':1}",
            "NaN",
            r#""\u+123""#,
        ] {
            assert_eq!(Value::parse(text), None, "{text}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(Value::parse(&deep), None);
    }

    #[test]
    fn writes_objects() {
        let text = ObjectWriter::new()
            .str("type", "message")
            .str("content", "a \"b\"\n\\ \u{1} \u{2028} é")
            .int("limit", 50)
            .bool("is_typing", false)
            .finish();
        assert_eq!(text, r#"{"type":"message","content":"a \"b\"\n\\ \u0001 \u2028 é","limit":50,"is_typing":false}"#);
        let back = Value::parse(&text);
        assert_eq!(
            back.as_ref().and_then(|v| v.get("content")).and_then(Value::as_str),
            Some("a \"b\"\n\\ \u{1} \u{2028} é")
        );
        assert_eq!(ObjectWriter::new().finish(), "{}");
    }
}
