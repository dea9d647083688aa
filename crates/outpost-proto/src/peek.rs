//! Reading the `id` of a message that cannot be decoded whole: one over the size limit, or
//! one whose envelope has the wrong shape. An `error` reply that names the job lets the
//! control plane tell which of its jobs was refused, so this is worth a small scanner.
//!
//! The scan is a single pass over the bytes without allocation (but for the id itself),
//! so a message of any size costs time linear in its length and no memory: it never builds
//! a JSON tree of a message that was refused for being too large.

/// Longest id returned; a longer one is not an id we could have issued or echo back.
pub const MAX_ID_LEN: usize = 128;

/// The string value of the top-level key `id` of a JSON object, when the bytes start like
/// one and the id is a plain string (no escapes) of at most [`MAX_ID_LEN`] bytes. Nested
/// objects are skipped, so an `id` inside `params` is never taken for the job's.
pub fn peek_id(bytes: &[u8]) -> Option<String> {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        if s.peek()? == b'}' {
            return None;
        }
        let key = s.string()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        if key == b"id" && s.peek()? == b'"' {
            let value = s.string()?;
            if value.len() > MAX_ID_LEN || value.contains(&b'\\') {
                return None;
            }
            return std::str::from_utf8(value).ok().map(str::to_owned);
        }
        s.skip_value()?;
        s.ws();
        match s.next()? {
            b',' => continue,
            _ => return None,
        }
    }
}

/// The same for a Phoenix frame `[join_ref, ref, topic, event, payload]`: the payload's
/// top-level `id`.
pub fn peek_phoenix_id(bytes: &[u8]) -> Option<String> {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    s.eat(b'[')?;
    for _ in 0..4 {
        s.ws();
        s.skip_value()?;
        s.ws();
        s.eat(b',')?;
    }
    peek_id(bytes.get(s.i..)?)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string's raw bytes between its quotes (escapes left as they are).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.next()? {
                b'"' => return self.b.get(start..self.i - 1),
                b'\\' => {
                    self.next()?;
                }
                _ => {}
            }
        }
    }

    /// Skips one value of any kind; nested containers are counted, strings respected.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                // A number, true, false or null: up to the next delimiter.
                while !matches!(
                    self.peek()?,
                    b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                ) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{peek_id, peek_phoenix_id};

    #[test]
    fn issue10_peek_id_finds_the_top_level_id_only() {
        assert_eq!(
            peek_id(br#"{"v":1,"type":"job","id":"abc","kind":"echo"}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            peek_id(br#" { "params" : {"id":"inner","x":[1,{"id":"deep"}]}, "s":"a\"}id", "n": -1.5e3, "t":true, "id" : "outer" } "#)
                .as_deref(),
            Some("outer")
        );
        assert_eq!(peek_id(br#"{"params":{"id":"inner"}}"#), None);
        assert_eq!(peek_id(br#"{"id":7}"#), None);
        assert_eq!(peek_id(br#"{"id":"a\"b"}"#), None);
        assert_eq!(peek_id(b"not json"), None);
        assert_eq!(peek_id(br#"{"id":"unterminated"#), None);
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(129));
        assert_eq!(peek_id(long.as_bytes()), None);
        assert_eq!(
            peek_phoenix_id(
                br#"[null, "3", "agent:a", "job", {"v":1,"id":"p1","params":{"x":"]"}}]"#
            )
            .as_deref(),
            Some("p1")
        );
        assert_eq!(peek_phoenix_id(br#"["1","2","t"]"#), None);
        // A truncated message still names its job if the id came first.
        assert_eq!(
            peek_id(br#"{"v":1,"type":"job","id":"j1","params":{"blob":"aaaa"#).as_deref(),
            Some("j1")
        );
    }
}
