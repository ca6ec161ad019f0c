//! The Python literal subset NPY headers are written in, parsed as `ast.literal_eval` would.

use crate::error::{Error, ErrorCode};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PyValue {
    Str(String),
    /// An int; `None` inside when it does not fit in an i128 (still an int, just huge).
    Int(Option<i128>),
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<PyValue>),
    List(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    pub(crate) fn describe(&self) -> String {
        match self {
            PyValue::Str(s) => format!("{:?}", s),
            PyValue::Int(Some(n)) => n.to_string(),
            PyValue::Int(None) => "a huge int".to_string(),
            PyValue::Float(f) => format!("the float {}", f),
            PyValue::Bool(true) => "True".to_string(),
            PyValue::Bool(false) => "False".to_string(),
            PyValue::None => "None".to_string(),
            PyValue::Tuple(items) => format!("a tuple of {}", items.len()),
            PyValue::List(items) => format!("a list of {}", items.len()),
            PyValue::Dict(_) => "a dict".to_string(),
        }
    }
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    allow_long: bool,
}

type PResult<T> = Result<T, Error>;

/// Parses `text` (dicts, tuples, lists, strings, ints, floats, True/False/None, any whitespace,
/// trailing commas). `allow_long` accepts Python 2's `3L`, which NumPy tolerates in v1/v2 headers.
pub(crate) fn parse_python_literal(text: &[u8], allow_long: bool) -> PResult<PyValue> {
    let mut p = Parser { text, pos: 0, allow_long };
    let v = p.value()?;
    p.skip_space();
    if p.pos != p.text.len() {
        return Err(p.fail("unexpected text after the literal"));
    }
    Ok(v)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b)
}

fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

impl<'a> Parser<'a> {
    fn fail(&self, what: &str) -> Error {
        let end = (self.pos + 20).min(self.text.len());
        let near = String::from_utf8_lossy(&self.text[self.pos.min(end)..end]);
        Error::npy(
            ErrorCode::BadHeader,
            format!("header is not a Python literal: {} at offset {} (near {:?})", what, self.pos, near),
        )
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.text.get(i).copied()
    }

    fn skip_space(&mut self) {
        while self.pos < self.text.len() && is_space(self.text[self.pos]) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.at(self.pos)
    }

    fn value(&mut self) -> PResult<PyValue> {
        match self.peek() {
            None => Err(self.fail("unexpected end of header")),
            Some(b'\'') | Some(b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'(') => self.tuple_or_group(),
            Some(b'[') => Ok(PyValue::List(self.sequence(b']')?)),
            Some(b'{') => self.dict(),
            Some(c) if c.is_ascii_digit() || c == b'.' || c == b'+' || c == b'-' => self.number(),
            Some(_) => self.word(),
        }
    }

    fn string(&mut self) -> PResult<String> {
        let quote = self.text[self.pos];
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        while let Some(c) = self.at(self.pos) {
            if c == quote {
                self.pos += 1;
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            if c == b'\n' {
                return Err(self.fail("newline inside a string"));
            }
            if c != b'\\' {
                out.push(c);
                self.pos += 1;
                continue;
            }
            let esc = self.at(self.pos + 1).unwrap_or(0);
            let simple = match esc {
                b'\\' => Some(b'\\'),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'a' => Some(0x07),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'v' => Some(0x0b),
                b'0' => Some(0),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                self.pos += 2;
                continue;
            }
            let n = match esc {
                b'x' => 2,
                b'u' => 4,
                b'U' => 8,
                _ => return Err(self.fail("unknown escape in a string")),
            };
            let hex = self.text.get(self.pos + 2..self.pos + 2 + n);
            let code = hex
                .filter(|h| h.iter().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                .and_then(char::from_u32);
            match code {
                Some(ch) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    self.pos += 2 + n;
                }
                None => return Err(self.fail("unknown escape in a string")),
            }
        }
        Err(self.fail("unterminated string"))
    }

    /// Digits with single underscores between them, as Python allows.
    fn digits(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.at(self.pos).filter(u8::is_ascii_digit) {
            out.push(c as char);
            self.pos += 1;
            if self.at(self.pos) == Some(b'_') && self.at(self.pos + 1).map_or(false, |c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        out
    }

    fn number(&mut self) -> PResult<PyValue> {
        let mut negative = false;
        while let Some(c) = self.at(self.pos).filter(|c| *c == b'+' || *c == b'-') {
            if c == b'-' {
                negative = !negative;
            }
            self.pos += 1;
            self.skip_space();
        }
        let start = self.pos;
        let mut body = self.digits();
        let mut is_float = false;
        if self.at(self.pos) == Some(b'.') {
            is_float = true;
            self.pos += 1;
            body.push('.');
            body += &self.digits();
        }
        if body.is_empty() || body == "." {
            return Err(self.fail("malformed number"));
        }
        if matches!(self.at(self.pos), Some(b'e') | Some(b'E')) {
            is_float = true;
            self.pos += 1;
            body.push('e');
            if let Some(c) = self.at(self.pos).filter(|c| *c == b'+' || *c == b'-') {
                body.push(c as char);
                self.pos += 1;
            }
            let d = self.digits();
            if d.is_empty() {
                return Err(self.fail("malformed exponent"));
            }
            body += &d;
        } else if self.allow_long && matches!(self.at(self.pos), Some(b'L') | Some(b'l')) {
            self.pos += 1;
        }
        if self.at(self.pos).map_or(false, is_name_char) {
            self.pos = start;
            return Err(self.fail("malformed number"));
        }
        if is_float {
            let body = if body.starts_with('.') { format!("0{}", body) } else { body };
            let body = body.replace(".e", ".0e");
            let v: f64 = match body.parse() {
                Ok(v) => v,
                Err(_) => return Err(self.fail("malformed number")),
            };
            return Ok(PyValue::Float(if negative { -v } else { v }));
        }
        Ok(PyValue::Int(body.parse::<i128>().ok().map(|v| if negative { -v } else { v })))
    }

    fn sequence(&mut self, closing: u8) -> PResult<Vec<PyValue>> {
        let mut items = Vec::new();
        self.pos += 1;
        loop {
            if self.peek() == Some(closing) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == closing => {}
                _ => return Err(self.fail(&format!("expected ',' or '{}'", closing as char))),
            }
        }
    }

    fn tuple_or_group(&mut self) -> PResult<PyValue> {
        self.pos += 1;
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(PyValue::Tuple(Vec::new()));
        }
        let first = self.value()?;
        if self.peek() == Some(b')') {
            // (3) is a parenthesised int in Python, not a tuple
            self.pos += 1;
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek() == Some(b',') {
            self.pos += 1;
            if self.peek() == Some(b')') {
                break;
            }
            items.push(self.value()?);
        }
        if self.peek() != Some(b')') {
            return Err(self.fail("expected ',' or ')'"));
        }
        self.pos += 1;
        Ok(PyValue::Tuple(items))
    }

    fn dict(&mut self) -> PResult<PyValue> {
        self.pos += 1;
        let mut entries: Vec<(PyValue, PyValue)> = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(PyValue::Dict(entries));
            }
            let key = self.value()?;
            if self.peek() != Some(b':') {
                return Err(self.fail("expected ':' after a dict key"));
            }
            self.pos += 1;
            let value = self.value()?;
            // a repeated key keeps the last value, as in Python
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.fail("expected ',' or '}'")),
            }
        }
    }

    fn word(&mut self) -> PResult<PyValue> {
        let mut end = self.pos;
        while end < self.text.len() && is_name_char(self.text[end]) {
            end += 1;
        }
        let word = &self.text[self.pos..end];
        match word {
            b"True" | b"False" => {
                self.pos = end;
                return Ok(PyValue::Bool(word == b"True"));
            }
            b"None" => {
                self.pos = end;
                return Ok(PyValue::None);
            }
            b"u" | b"U" if matches!(self.at(end), Some(b'\'') | Some(b'"')) => {
                self.pos = end;
                return Ok(PyValue::Str(self.string()?));
            }
            _ => {}
        }
        if word.is_empty() {
            return Err(self.fail("unexpected character"));
        }
        let msg = format!("unexpected name '{}'", String::from_utf8_lossy(word));
        Err(self.fail(&msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let v = parse_python_literal(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", false).unwrap();
        assert_eq!(
            v,
            PyValue::Dict(vec![
                (PyValue::Str("descr".into()), PyValue::Str("<f4".into())),
                (PyValue::Str("fortran_order".into()), PyValue::Bool(false)),
                (PyValue::Str("shape".into()), PyValue::Tuple(vec![PyValue::Int(Some(2)), PyValue::Int(Some(3))])),
            ])
        );
        assert_eq!(parse_python_literal(b"(3)", false).unwrap(), PyValue::Int(Some(3)));
        assert_eq!(parse_python_literal(b"(3,)", false).unwrap(), PyValue::Tuple(vec![PyValue::Int(Some(3))]));
        assert_eq!(parse_python_literal(b"3L", true).unwrap(), PyValue::Int(Some(3)));
        assert!(parse_python_literal(b"3L", false).is_err());
        assert_eq!(parse_python_literal(b"1_000", false).unwrap(), PyValue::Int(Some(1000)));
        assert_eq!(parse_python_literal(b"-2.5e1", false).unwrap(), PyValue::Float(-25.0));
        assert_eq!(parse_python_literal(b"u'x\\x41'", false).unwrap(), PyValue::Str("xA".into()));
        for bad in [&b"{'a': 1"[..], b"{'a' 1}", b"'abc", b"{} x", b"", b"\x00", b"{a: 1}"] {
            assert!(parse_python_literal(bad, false).is_err(), "{:?}", bad);
        }
    }
}
