package ldakit

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyKind is the type of a value of the Python literal subset NPY headers are written in.
type pyKind int

const (
	pyStr pyKind = iota
	pyInt
	pyFloat
	pyBool
	pyNone
	pyTuple
	pyList
	pyDict
)

var pyKindNames = map[pyKind]string{
	pyStr: "a string", pyInt: "an int", pyFloat: "a float", pyBool: "a bool", pyNone: "None",
	pyTuple: "a tuple", pyList: "a list", pyDict: "a dict",
}

type pyEntry struct {
	key   *pyValue
	value *pyValue
}

type pyValue struct {
	kind    pyKind
	str     string
	integer *big.Int
	float   float64
	boolean bool
	items   []*pyValue
	entries []pyEntry
}

func (v *pyValue) describe() string {
	switch v.kind {
	case pyStr:
		return strconv.Quote(v.str)
	case pyInt:
		return v.integer.String()
	case pyFloat:
		return "the float " + strconv.FormatFloat(v.float, 'g', -1, 64)
	case pyBool:
		if v.boolean {
			return "True"
		}
		return "False"
	case pyNone:
		return "None"
	case pyTuple, pyList:
		return fmt.Sprintf("%s of %d", pyKindNames[v.kind], len(v.items))
	}
	return pyKindNames[v.kind]
}

// maxNestingDepth is how deeply lists, tuples and dicts may nest, as in @ldakit/npy. NumPy
// writes a few levels; the limit keeps a hostile header from exhausting the stack.
const maxNestingDepth = 64

type literalParser struct {
	text      string
	pos       int
	allowLong bool
	sawLong   bool
	depth     int
}

type literalError struct{ msg string }

// parsePythonLiteral parses the Python literal an NPY header holds, as ast.literal_eval would:
// dicts, tuples, lists, strings, integers, floats, True/False/None, any whitespace and trailing
// commas. allowLong accepts Python 2's "3L" integers, which NumPy tolerates in v1/v2 headers.
func parsePythonLiteral(text string, allowLong bool) (value *pyValue, err error) {
	p := &literalParser{text: text, allowLong: allowLong}
	defer func() {
		if r := recover(); r != nil {
			le, ok := r.(literalError)
			if !ok {
				panic(r)
			}
			value, err = nil, npyErr(BadHeader, "%s", le.msg)
		}
	}()
	p.skipOuterLines(true)
	literalStart := p.pos
	v := p.value()
	p.skipOuterLines(false)
	if p.sawLong && strings.ContainsAny(strings.ReplaceAll(text[:literalStart], "\r\n", ""), "\f\r") {
		// NumPy reads 3L by re-tokenizing with Python's tokenize module, which fails on these.
		p.pos = 0
		p.fail("a form feed or lone CR before a literal with Python 2 'L' integers")
	}
	return v, nil
}

// skipOuterLines skips whitespace outside any bracket as Python's tokenizer reads it (inside
// brackets any whitespace goes): the line holding the literal must start in column 0, and a line
// of only spaces and tabs counts as indented unless a newline ends it. A form feed resets the
// column. ast.literal_eval first strips spaces and tabs from the very start.
func (p *literalParser) skipOuterLines(before bool) {
	blank := func(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }
	if before {
		for p.pos < len(p.text) && (p.text[p.pos] == ' ' || p.text[p.pos] == '\t') {
			p.pos++
		}
	} else {
		for p.pos < len(p.text) && blank(p.text[p.pos]) {
			p.pos++
		}
		if p.pos == len(p.text) {
			return
		}
		if c := p.text[p.pos]; c != '\n' && c != '\r' {
			p.fail("unexpected text after the literal")
		}
	}
	for {
		indented := false
		for p.pos < len(p.text) && blank(p.text[p.pos]) {
			indented = p.text[p.pos] != '\f'
			p.pos++
		}
		if p.pos < len(p.text) && (p.text[p.pos] == '\n' || p.text[p.pos] == '\r') {
			if p.text[p.pos] == '\r' && p.at(p.pos+1) == '\n' {
				p.pos += 2
			} else {
				p.pos++
			}
			continue
		}
		if indented {
			p.fail("unexpected indent outside brackets")
		}
		if !before && p.pos != len(p.text) {
			p.fail("unexpected text after the literal")
		}
		return
	}
}

func (p *literalParser) fail(what string) {
	end := p.pos + 20
	if end > len(p.text) {
		end = len(p.text)
	}
	panic(literalError{fmt.Sprintf("header is not a Python literal: %s at offset %d (near %q)",
		what, p.pos, p.text[p.pos:end])})
}

func (p *literalParser) at(i int) byte {
	if i < len(p.text) {
		return p.text[i]
	}
	return 0
}

// isSpace is whitespace inside brackets. Python's tokenizer takes no vertical tab as whitespace:
// NumPy refuses a header with one.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
func isDigit(c byte) bool    { return c >= '0' && c <= '9' }
func isNameChar(c byte) bool { return c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isHex(c byte) bool      { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func (p *literalParser) skipSpace() {
	for p.pos < len(p.text) && isSpace(p.text[p.pos]) {
		p.pos++
	}
}

func (p *literalParser) peek() byte {
	p.skipSpace()
	return p.at(p.pos)
}

func (p *literalParser) value() *pyValue {
	c := p.peek()
	if p.pos >= len(p.text) {
		p.fail("unexpected end of header")
	}
	switch {
	case c == '\'' || c == '"':
		return &pyValue{kind: pyStr, str: p.stringLit()}
	case c == '(':
		return p.nested(p.tupleOrGroup)
	case c == '[':
		return p.nested(func() *pyValue { return &pyValue{kind: pyList, items: p.sequence(']')} })
	case c == '{':
		return p.nested(p.dict)
	case isDigit(c) || c == '.' || c == '+' || c == '-':
		return p.number()
	}
	return p.word()
}

func (p *literalParser) nested(parse func() *pyValue) *pyValue {
	if p.depth == maxNestingDepth {
		p.fail(fmt.Sprintf("nested deeper than %d levels", maxNestingDepth))
	}
	p.depth++
	v := parse()
	p.depth--
	return v
}

func (p *literalParser) stringLit() string {
	quote := p.text[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.text) {
		c := p.text[p.pos]
		if c == quote {
			p.pos++
			return b.String()
		}
		// Python's tokenizer reads a lone CR as a line end, so it cannot sit inside a string either.
		if c == '\n' || c == '\r' {
			p.fail("newline inside a string")
		}
		if c != '\\' {
			b.WriteByte(c)
			p.pos++
			continue
		}
		esc := p.at(p.pos + 1)
		if d := p.at(p.pos + 2); esc == '0' && d >= '0' && d <= '7' {
			// Python reads \012 as one octal escape; NUL followed by "12" would be a wrong value.
			p.fail("octal escape in a string")
		}
		simple := map[byte]string{'\\': "\\", '\'': "'", '"': "\"", 'n': "\n", 't': "\t",
			'r': "\r", 'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '0': "\x00"}
		if s, ok := simple[esc]; ok {
			b.WriteString(s)
			p.pos += 2
			continue
		}
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[esc]
		if n == 0 || p.pos+2+n > len(p.text) {
			p.fail("unknown escape in a string")
		}
		hex := p.text[p.pos+2 : p.pos+2+n]
		for i := 0; i < n; i++ {
			if !isHex(hex[i]) {
				p.fail("unknown escape in a string")
			}
		}
		r, _ := strconv.ParseUint(hex, 16, 32)
		if r > utf8.MaxRune {
			p.fail(fmt.Sprintf("escape \\%c%s is past U+10FFFF", esc, hex))
		}
		// A lone surrogate is a valid Python string; Go writes it as U+FFFD, which no dtype or key
		// holds either, so the header is refused as it is in Python.
		b.WriteRune(rune(r))
		p.pos += 2 + n
	}
	p.fail("unterminated string")
	return ""
}

// digits scans digits with single underscores between them, as Python allows.
func (p *literalParser) digits() string {
	var b strings.Builder
	for isDigit(p.at(p.pos)) {
		b.WriteByte(p.text[p.pos])
		p.pos++
		if p.at(p.pos) == '_' && isDigit(p.at(p.pos+1)) {
			p.pos++
		}
	}
	return b.String()
}

func (p *literalParser) number() *pyValue {
	negative := false
	// One sign only: ast.literal_eval refuses "- -3" and "+-3".
	if c := p.at(p.pos); c == '+' || c == '-' {
		negative = c == '-'
		p.pos++
		p.skipSpace()
	}
	start := p.pos
	body := p.digits()
	isFloat := false
	if p.at(p.pos) == '.' {
		isFloat = true
		p.pos++
		body += "." + p.digits()
	}
	if body == "" || body == "." {
		p.fail("malformed number")
	}
	if c := p.at(p.pos); c == 'e' || c == 'E' {
		isFloat = true
		p.pos++
		exp := ""
		if c := p.at(p.pos); c == '+' || c == '-' {
			exp = string(c)
			p.pos++
		}
		d := p.digits()
		if d == "" {
			p.fail("malformed exponent")
		}
		body += "e" + exp + d
	} else if p.allowLong && (p.at(p.pos) == 'L' || p.at(p.pos) == 'l') {
		p.pos++
		p.sawLong = true
	}
	if isNameChar(p.at(p.pos)) {
		p.pos = start
		p.fail("malformed number")
	}
	if !isFloat && body[0] == '0' && strings.Trim(body, "0") != "" {
		// Python 3 refuses 01 (it was octal in Python 2); reading it as 1 would guess.
		p.pos = start
		p.fail("leading zeros in an integer")
	}
	if isFloat {
		f, err := strconv.ParseFloat(body, 64)
		if err != nil && !isRangeErr(err) {
			p.fail("malformed number")
		}
		if negative {
			f = -f
		}
		return &pyValue{kind: pyFloat, float: f}
	}
	n, ok := new(big.Int).SetString(body, 10)
	if !ok {
		p.fail("malformed number")
	}
	if negative {
		n.Neg(n)
	}
	return &pyValue{kind: pyInt, integer: n}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (p *literalParser) sequence(closing byte) []*pyValue {
	items := []*pyValue{}
	p.pos++
	for {
		if p.peek() == closing {
			p.pos++
			return items
		}
		items = append(items, p.value())
		switch p.peek() {
		case ',':
			p.pos++
		case closing:
		default:
			p.fail(fmt.Sprintf("expected ',' or '%c'", closing))
		}
	}
}

func (p *literalParser) tupleOrGroup() *pyValue {
	p.pos++
	if p.peek() == ')' {
		p.pos++
		return &pyValue{kind: pyTuple, items: []*pyValue{}}
	}
	first := p.value()
	if p.peek() == ')' { // (3) is a parenthesised int in Python, not a tuple
		p.pos++
		return first
	}
	items := []*pyValue{first}
	for p.peek() == ',' {
		p.pos++
		if p.peek() == ')' {
			break
		}
		items = append(items, p.value())
	}
	if p.peek() != ')' {
		p.fail("expected ',' or ')'")
	}
	p.pos++
	return &pyValue{kind: pyTuple, items: items}
}

func (p *literalParser) dict() *pyValue {
	p.pos++
	d := &pyValue{kind: pyDict}
	for {
		if p.peek() == '}' {
			p.pos++
			return d
		}
		key := p.value()
		if p.peek() != ':' {
			p.fail("expected ':' after a dict key")
		}
		p.pos++
		val := p.value()
		replaced := false
		for i := range d.entries { // a repeated key keeps the last value, as in Python
			if key.kind == pyStr && d.entries[i].key.kind == pyStr && d.entries[i].key.str == key.str {
				d.entries[i].value = val
				replaced = true
			}
		}
		if !replaced {
			d.entries = append(d.entries, pyEntry{key, val})
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			p.fail("expected ',' or '}'")
		}
	}
}

func (p *literalParser) word() *pyValue {
	end := p.pos
	for end < len(p.text) && isNameChar(p.text[end]) {
		end++
	}
	w := p.text[p.pos:end]
	switch w {
	case "True", "False":
		p.pos = end
		return &pyValue{kind: pyBool, boolean: w == "True"}
	case "None":
		p.pos = end
		return &pyValue{kind: pyNone}
	case "u", "U":
		if c := p.at(end); c == '\'' || c == '"' {
			p.pos = end
			return &pyValue{kind: pyStr, str: p.stringLit()}
		}
	}
	if w == "" {
		p.fail("unexpected character")
	}
	p.fail(fmt.Sprintf("unexpected name '%s'", w))
	return nil
}
