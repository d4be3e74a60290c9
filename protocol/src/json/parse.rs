//! The reader: JSON text to [`Value`], never panicking, `None` for anything that is not JSON.

use super::Value;

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
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    /// The rest of the text from the current position (empty when out of bounds; `str` range indexing
    /// would bring a panicking path with formatting into the `.wasm`).
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        if self.rest().starts_with(word) {
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
        match self.peek()? {
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
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value * 10.0 + f64::from(d - b'0');
            count += 1;
            self.pos += 1;
        }
        (value, count)
    }

    fn number(&mut self) -> Option<f64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let (mut value, count) = self.digits();
        if count == 0 {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let (fraction, places) = self.digits();
            if places == 0 {
                return None;
            }
            value += fraction / 10f64.powi(places.min(300) as i32);
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let minus = self.peek() == Some(b'-');
            if let Some(b'-' | b'+') = self.peek() {
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

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Option<u32> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = char::from(self.peek()?).to_digit(16)?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Some(code)
    }

    fn string(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Only ASCII bytes stop the scan, so this is a char boundary.
            out.push_str(self.text.get(start..self.pos).unwrap_or_default());
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let escaped = self.peek()?;
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
                        b'u' => self.escaped_char()?,
                        _ => return None,
                    });
                }
                // A raw control character.
                _ => return None,
            }
        }
    }

    /// The character of a `\uXXXX` escape (after `\u`), joining a surrogate pair; a lone surrogate
    /// becomes U+FFFD.
    fn escaped_char(&mut self) -> Option<char> {
        let high = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&high) && self.rest().starts_with("\\u") {
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xdc00..0xe000).contains(&low) {
                return None;
            }
            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else {
            high
        };
        Some(char::from_u32(code).unwrap_or('\u{fffd}'))
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
        assert_eq!(Value::parse("-12").and_then(|v| v.as_i64()), Some(-12));
        assert_eq!(Value::parse("-12").and_then(|v| v.as_u64()), None);
    }

    #[test]
    fn parses_string_escapes() {
        let v = Value::parse(r#""q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00 é\u00C9""#);
        assert_eq!(v.as_ref().and_then(Value::as_str), Some("q\"b\\s/n\nt\tué😀 éÉ"));
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
            r#""\u12""#,
            r#""\ud800\u0041""#,
        ] {
            assert_eq!(Value::parse(text), None, "{text}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(Value::parse(&deep), None);
    }

    #[test]
    fn objects_are_equal_in_any_order() {
        let a = Value::parse(r#"{"a":1,"b":[true,{"c":null,"d":"x"}]}"#);
        let b = Value::parse(r#"{"b":[true,{"d":"x","c":null}],"a":1.0}"#);
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, Value::parse(r#"{"a":1,"b":[{"c":null,"d":"x"},true]}"#), "arrays keep their order");
        assert_ne!(a, Value::parse(r#"{"a":1}"#));
        assert_ne!(Value::parse(r#"{"a":1,"b":2}"#), Value::parse(r#"{"a":1,"c":2}"#));
    }
}
