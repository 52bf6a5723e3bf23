package zones

import (
	"bytes"
	"unsafe"
)

// A light splitter for RFC 1035 master files. It does not interpret record
// data: it cuts the file into entries (one logical line each, parentheses
// folded, comments dropped) and remembers where each token started, so that
// every record and every syntax error can be reported at file:line:col.
// miekg/dns then parses the normalised entries.

// token is one word of an entry, as written (escapes and quotes kept).
type token struct {
	text string
	line int // 1-based
	col  int // 1-based, in bytes
}

// entry is one logical line of a master file.
type entry struct {
	toks       []token
	blankOwner bool // the line starts with a blank: the owner is the previous one
	line, col  int  // where the entry starts (its first token)
	bad        bool // a lexical error was found; already reported
}

// lexError is a lexical error at a position.
type lexError struct {
	line, col int
	msg       string
}

// maxEntryTokens bounds the number of tokens of one entry (a TXT record with
// many strings is the largest legitimate case).
const maxEntryTokens = 1 << 16

// splitter walks the bytes of a master file.
type splitter struct {
	data      []byte
	src       string // data as a string, to slice tokens without copying
	off       int
	line, col int
	errs      []lexError
	toks      []token // the tokens of the entry next returned last
}

// newSplitter reads data, which must not change while it is read. Tokens
// are slices of data, not copies (a zone file is megabytes): nothing keeps
// one after the parse, records and findings are made of copies.
func newSplitter(data []byte) *splitter {
	return &splitter{data: data, src: unsafe.String(unsafe.SliceData(data), len(data)), line: 1, col: 1}
}

func (s *splitter) errorf(line, col int, msg string) {
	s.errs = append(s.errs, lexError{line: line, col: col, msg: msg})
}

// advance moves over one byte, keeping line and column.
func (s *splitter) advance() {
	if s.data[s.off] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.off++
}

// next returns the next non-empty entry, or ok=false at the end of input.
// Lexical errors are appended to s.errs; the entry is then marked bad.
// The entry's tokens are valid until the next call.
func (s *splitter) next() (e entry, ok bool) {
	for s.off < len(s.data) {
		e = entry{toks: s.toks[:0]}
		if c := s.data[s.off]; c == ' ' || c == '\t' {
			e.blankOwner = true
		}
		s.scanEntry(&e)
		s.toks = e.toks
		if len(e.toks) > 0 {
			e.line, e.col = e.toks[0].line, e.toks[0].col
			return e, true
		}
	}
	return entry{}, false
}

// scanEntry reads tokens up to the end of a logical line.
func (s *splitter) scanEntry(e *entry) {
	depth := 0
	var openLine, openCol int
	for s.off < len(s.data) {
		c := s.data[s.off]
		switch c {
		case '\n':
			s.advance()
			if depth == 0 {
				return
			}
		case ' ', '\t', '\r':
			s.advance()
		case ';':
			for s.off < len(s.data) && s.data[s.off] != '\n' {
				s.advance()
			}
		case '(':
			if depth == 0 {
				openLine, openCol = s.line, s.col
			}
			depth++
			s.advance()
		case ')':
			if depth == 0 {
				s.errorf(s.line, s.col, "unbalanced parenthesis: ')' without '('")
				e.bad = true
			} else {
				depth--
			}
			s.advance()
		default:
			t, ok := s.scanToken()
			if !ok {
				e.bad = true
			}
			if len(e.toks) >= maxEntryTokens {
				if len(e.toks) == maxEntryTokens {
					s.errorf(t.line, t.col, "too many tokens in one entry")
					e.bad = true
				}
				continue
			}
			e.toks = append(e.toks, t)
		}
	}
	if depth > 0 {
		s.errorf(openLine, openCol, "unbalanced parenthesis: '(' is never closed")
		e.bad = true
	}
}

// scanToken reads one word: a run of characters up to a blank, a newline,
// a parenthesis or a comment, with backslash escapes and quoted strings.
func (s *splitter) scanToken() (token, bool) {
	t := token{line: s.line, col: s.col}
	start := s.off
	ok := true
loop:
	for s.off < len(s.data) {
		switch c := s.data[s.off]; c {
		case ' ', '\t', '\r', '\n', '(', ')', ';':
			break loop
		case '\\':
			s.advance()
			if s.off < len(s.data) && s.data[s.off] != '\n' {
				s.advance()
			}
		case '"':
			qLine, qCol := s.line, s.col
			s.advance()
			closed := false
			for s.off < len(s.data) {
				c := s.data[s.off]
				if c == '\n' {
					break
				}
				s.advance()
				if c == '\\' {
					if s.off < len(s.data) && s.data[s.off] != '\n' {
						s.advance()
					}
					continue
				}
				if c == '"' {
					closed = true
					break
				}
			}
			if !closed {
				s.errorf(qLine, qCol, "unterminated quoted string")
				ok = false
				break loop
			}
		default:
			s.advance()
		}
	}
	t.text = s.src[start:s.off]
	return t, ok
}

// plainByte is false for the bytes the splitter treats apart: blanks,
// newlines, comments, parentheses, quotes and escapes (the special
// characters of RFC 1035 section 5.1).
var plainByte = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range " \t\r\n;()\"\\" {
		t[c] = false
	}
	return t
}()

// plainLine returns the line at the reading position when it is a plain
// entry, the commonest: an owner at its start, then tokens one space
// apart, and no byte the splitter treats apart besides those spaces and a
// carriage return before the newline. Its tokens are then the line cut at
// its spaces; owner is the length of the first, next where the next line
// starts. ok is false for anything else, a directive, and a last line
// without a newline.
func (s *splitter) plainLine() (line []byte, owner, next int, ok bool) {
	rest := s.data[s.off:]
	end := bytes.IndexByte(rest, '\n')
	if s.col != 1 || end < 0 {
		return nil, 0, 0, false
	}
	next = s.off + end + 1
	if end > 0 && rest[end-1] == '\r' {
		end--
	}
	if end == 0 {
		return nil, 0, 0, false
	}
	line = rest[:end]
	if line[0] == '$' || !plainByte[line[0]] || line[end-1] == ' ' {
		return nil, 0, 0, false
	}
	for i := 1; i < end; i++ {
		if c := line[i]; !plainByte[c] {
			if c != ' ' || line[i-1] == ' ' {
				return nil, 0, 0, false
			}
			if owner == 0 {
				owner = i
			}
		}
	}
	return line, owner, next, owner > 0
}

// skipLine moves to the start of the next line, at next (plainLine's).
func (s *splitter) skipLine(next int) {
	s.off = next
	s.line++
	s.col = 1
}

// skipEmptyLines moves past the lines that are empty or a comment alone,
// which hold no entry.
func (s *splitter) skipEmptyLines() {
	for s.col == 1 && s.off < len(s.data) {
		switch s.data[s.off] {
		case '\n':
			s.off++
		case ';':
			end := bytes.IndexByte(s.data[s.off:], '\n')
			if end < 0 {
				return
			}
			s.off += end + 1
		default:
			return
		}
		s.line++
	}
}
