//! The writer: JSON text built member by member, integers without `core::fmt` (whose number
//! formatting costs the widget's `.wasm` kilobytes).

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

/// Appends `value` in decimal.
pub fn push_int(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_uint(out, value.unsigned_abs());
}

/// Appends `value` in decimal.
pub fn push_uint(out: &mut String, value: u64) {
    let mut n = value;
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        // At most 20 digits: the index stays in bounds (the modulo keeps a panicking path out).
        digits[len % 20] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        out.push(char::from(*d));
    }
}

/// Writes a JSON object, member by member.
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

    /// A string member when there is a value.
    #[must_use]
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.str(key, value),
            None => self,
        }
    }

    /// An integer member.
    #[must_use]
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        push_int(&mut self.out, value);
        self
    }

    /// An integer member when there is a value.
    #[must_use]
    pub fn opt_int(self, key: &str, value: Option<i64>) -> Self {
        match value {
            Some(value) => self.int(key, value),
            None => self,
        }
    }

    /// A non-negative integer member.
    #[must_use]
    pub fn uint(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        push_uint(&mut self.out, value);
        self
    }

    /// A non-negative integer member when there is a value.
    #[must_use]
    pub fn opt_uint(self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(value) => self.uint(key, value),
            None => self,
        }
    }

    /// A boolean member.
    #[must_use]
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A member whose value is JSON text already (an object or array written by another writer).
    #[must_use]
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.out.push_str(json);
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
    use crate::json::Value;

    #[test]
    fn writes_objects() {
        let text = ObjectWriter::new()
            .str("type", "message")
            .str("content", "a \"b\"\n\\ \u{1} \u{2028} é")
            .int("limit", 50)
            .bool("is_typing", false)
            .opt_str("absent", None)
            .opt_uint("count", Some(3))
            .raw("list", "[1,2]")
            .finish();
        assert_eq!(
            text,
            r#"{"type":"message","content":"a \"b\"\n\\ \u0001 \u2028 é","limit":50,"is_typing":false,"count":3,"list":[1,2]}"#
        );
        let back = Value::parse(&text);
        assert_eq!(
            back.as_ref().and_then(|v| v.get("content")).and_then(Value::as_str),
            Some("a \"b\"\n\\ \u{1} \u{2028} é")
        );
        assert_eq!(ObjectWriter::new().finish(), "{}");
    }

    #[test]
    fn writes_integers() {
        for n in [0, 7, 10, 12345, -1, -90, i64::MAX, i64::MIN, 1_762_000_000_123] {
            let mut out = String::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        assert_eq!(ObjectWriter::new().uint("n", u64::MAX).finish(), format!(r#"{{"n":{}}}"#, u64::MAX));
    }
}
