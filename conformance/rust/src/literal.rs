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

/// How deeply lists, tuples and dicts may nest, as in `@ldakit/npy`. NumPy writes a few levels;
/// the limit keeps a hostile header from overflowing the stack of this recursive parser.
pub(crate) const MAX_NESTING_DEPTH: usize = 64;

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    allow_long: bool,
    saw_long: bool,
    depth: usize,
}

type PResult<T> = Result<T, Error>;

/// Parses `text` (dicts, tuples, lists, strings, ints, floats, True/False/None, any whitespace,
/// trailing commas). `allow_long` accepts Python 2's `3L`, which NumPy tolerates in v1/v2 headers.
pub(crate) fn parse_python_literal(text: &[u8], allow_long: bool) -> PResult<PyValue> {
    let mut p = Parser { text, pos: 0, allow_long, saw_long: false, depth: 0 };
    p.skip_outer_lines(true)?;
    let literal_start = p.pos;
    let v = p.value()?;
    p.skip_outer_lines(false)?;
    let before = &text[..literal_start];
    let lone_cr = (0..before.len()).any(|i| before[i] == b'\r' && before.get(i + 1) != Some(&b'\n'));
    if p.saw_long && (before.contains(&0x0c) || lone_cr) {
        // NumPy reads `3L` by re-tokenizing with Python's `tokenize` module, which fails on these.
        p.pos = 0;
        return Err(p.fail("a form feed or lone CR before a literal with Python 2 'L' integers"));
    }
    Ok(v)
}

/// Whitespace inside brackets. Python's tokenizer takes no vertical tab as whitespace: NumPy
/// refuses a header with one.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x0c)
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

    /// Whitespace outside any bracket, as Python's tokenizer reads it (inside brackets any
    /// whitespace goes): the line holding the literal must start in column 0, and a line of only
    /// spaces and tabs counts as indented unless a newline ends it. A form feed resets the column.
    /// `ast.literal_eval` first strips spaces and tabs from the very start.
    fn skip_outer_lines(&mut self, before: bool) -> PResult<()> {
        if before {
            while matches!(self.at(self.pos), Some(b' ') | Some(b'\t')) {
                self.pos += 1;
            }
        } else {
            while self.at(self.pos).map_or(false, is_blank) {
                self.pos += 1;
            }
            match self.at(self.pos) {
                None => return Ok(()),
                Some(b'\n') | Some(b'\r') => {}
                Some(_) => return Err(self.fail("unexpected text after the literal")),
            }
        }
        loop {
            let mut indented = false;
            while let Some(c) = self.at(self.pos).filter(|c| is_blank(*c)) {
                indented = c != 0x0c;
                self.pos += 1;
            }
            match self.at(self.pos) {
                Some(b'\r') if self.at(self.pos + 1) == Some(b'\n') => self.pos += 2,
                Some(b'\n') | Some(b'\r') => self.pos += 1,
                next => {
                    if indented {
                        return Err(self.fail("unexpected indent outside brackets"));
                    }
                    if !before && next.is_some() {
                        return Err(self.fail("unexpected text after the literal"));
                    }
                    return Ok(());
                }
            }
        }
    }

    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> PResult<PyValue>) -> PResult<PyValue> {
        if self.depth == MAX_NESTING_DEPTH {
            return Err(self.fail(&format!("nested deeper than {} levels", MAX_NESTING_DEPTH)));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.at(self.pos)
    }

    fn value(&mut self) -> PResult<PyValue> {
        match self.peek() {
            None => Err(self.fail("unexpected end of header")),
            Some(b'\'') | Some(b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'(') => self.nested(Self::tuple_or_group),
            Some(b'[') => self.nested(|p| Ok(PyValue::List(p.sequence(b']')?))),
            Some(b'{') => self.nested(Self::dict),
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
            // Python's tokenizer reads a lone CR as a line end, so it cannot sit inside a string either.
            if c == b'\n' || c == b'\r' {
                return Err(self.fail("newline inside a string"));
            }
            if c != b'\\' {
                out.push(c);
                self.pos += 1;
                continue;
            }
            let esc = self.at(self.pos + 1).unwrap_or(0);
            if esc == b'0' && matches!(self.at(self.pos + 2), Some(b'0'..=b'7')) {
                // Python reads `\012` as one octal escape; NUL followed by "12" would be a wrong value.
                return Err(self.fail("octal escape in a string"));
            }
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
                .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            let Some(code) = code else {
                return Err(self.fail("unknown escape in a string"));
            };
            if code > 0x10ffff {
                let hex = String::from_utf8_lossy(hex.unwrap_or_default()).into_owned();
                return Err(self.fail(&format!("escape \\{}{} is past U+10FFFF", esc as char, hex)));
            }
            // A lone surrogate is a valid Python string that Rust cannot hold: it becomes U+FFFD,
            // which no dtype or key holds either, so the header is refused as in Python.
            let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            self.pos += 2 + n;
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
        // One sign only: `ast.literal_eval` refuses `- -3` and `+-3`.
        if let Some(c) = self.at(self.pos).filter(|c| *c == b'+' || *c == b'-') {
            negative = c == b'-';
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
            self.saw_long = true;
        }
        if self.at(self.pos).map_or(false, is_name_char) {
            self.pos = start;
            return Err(self.fail("malformed number"));
        }
        if !is_float && body.starts_with('0') && body.bytes().any(|c| c != b'0') {
            // Python 3 refuses `01` (it was octal in Python 2); reading it as 1 would guess.
            self.pos = start;
            return Err(self.fail("leading zeros in an integer"));
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
