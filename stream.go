package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// arrayScanner reads a JSON array from a stream one element at a time. It
// only finds each element's bounds (strings, escapes, nesting) and the raw
// values of the element's top-level "_id" and "createdAt" strings, which is
// all the cursor needs: in steady state nearly every event of the window was
// emitted before and is never decoded. Elements that are kept are parsed
// (and validated) by the event decoder later. encoding/json's Decoder does the same
// split several times slower, and the split dominates a poll with nothing new.
type arrayScanner struct {
	r        io.Reader
	buf      []byte
	pos, end int // unread data is buf[pos:end]
	readErr  error
	state    int
	offset   int64 // stream offset of buf[0], for error messages
	// open holds the brackets open in the current element, innermost last.
	open []byte
	// start and stop are the stream offsets of the last element returned.
	start, stop int64
	// hold, when not negative, is a stream offset fill keeps buffered: a
	// run's bytes that are not hashed yet (see runs.go).
	hold int64
}

const (
	scanStart = iota
	scanElements
	scanAfterComma // at an element, its comma read (after skip)
	scanDone
)

// syntaxError is JSON the scanner cannot split.
type syntaxError struct {
	offset int64
	msg    string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

// errNotArray is returned when the body is valid-looking JSON but no array.
var errNotArray = errors.New("not a JSON array")

func newArrayScanner(r io.Reader) *arrayScanner {
	return &arrayScanner{r: r, buf: make([]byte, 256<<10), hold: -1}
}

// fill reads more input after buf[pos:end], moving it to the front and
// growing buf when it is full. It returns false once the reader is done.
func (s *arrayScanner) fill() bool {
	if s.readErr != nil {
		return false
	}
	keep := s.pos
	if s.hold >= 0 {
		keep = min(keep, int(s.hold-s.offset))
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:s.end])
		s.offset += int64(keep)
		s.pos, s.end = s.pos-keep, n
	}
	if s.end == len(s.buf) {
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if err != nil {
		s.readErr = err
	}
	return n > 0 || err == nil
}

// skipSpace advances pos past white space, reading as needed; it returns
// false at the end of input.
func (s *arrayScanner) skipSpace() bool {
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return true
			}
		}
		if !s.fill() {
			return false
		}
	}
}

// endErr is the error for input that ended early: the reader's own error,
// or io.ErrUnexpectedEOF when it ended cleanly.
func (s *arrayScanner) endErr() error {
	if s.readErr != nil && s.readErr != io.EOF {
		return s.readErr
	}
	return io.ErrUnexpectedEOF
}

func (s *arrayScanner) syntax(msg string) error {
	return &syntaxError{offset: s.offset + int64(s.pos), msg: msg}
}

// next returns the next element, valid until the following call, and the
// values of its top-level "_id" and "createdAt" members when they are strings
// without escape sequences (nil otherwise: the caller then decodes the
// element). It returns io.EOF once the closing bracket and the white space
// after it are read.
func (s *arrayScanner) next() (raw, id, createdAt []byte, err error) {
	switch s.state {
	case scanDone:
		return nil, nil, nil, io.EOF
	case scanStart:
		if !s.skipSpace() {
			return nil, nil, nil, s.endErr()
		}
		if s.buf[s.pos] != '[' {
			return nil, nil, nil, errNotArray
		}
		s.pos++
		if !s.skipSpace() {
			return nil, nil, nil, s.endErr()
		}
		if s.buf[s.pos] == ']' {
			return nil, nil, nil, s.close()
		}
		s.state = scanElements
	case scanAfterComma:
		s.state = scanElements
		if !s.skipSpace() {
			return nil, nil, nil, s.endErr()
		}
	default:
		if !s.skipSpace() {
			return nil, nil, nil, s.endErr()
		}
		switch s.buf[s.pos] {
		case ']':
			return nil, nil, nil, s.close()
		case ',':
			s.pos++
			if !s.skipSpace() {
				return nil, nil, nil, s.endErr()
			}
		default:
			return nil, nil, nil, s.syntax("expected ',' or ']' after an array element")
		}
	}
	switch s.buf[s.pos] {
	case ',', ']', '}', ':':
		return nil, nil, nil, s.syntax("expected an array element")
	}
	return s.element()
}

// Which top-level member a string value belongs to.
const (
	memberOther = iota
	memberID
	memberCreatedAt
)

// element scans one value starting at pos. Offsets are kept relative to pos,
// which fill may move.
func (s *arrayScanner) element() (raw, id, createdAt []byte, err error) {
	var (
		i         int // scan position relative to pos
		depth     int
		isObject  = s.buf[s.pos] == '{'
		expectKey bool
		key       int // member whose key was just read
		valueFor  int // member whose value comes next
		idAt      [2]int
		timeAt    [2]int
		// The first of duplicate keys counts, as in the decoder.
		idKey, timeKey bool
	)
	idAt[0], timeAt[0] = -1, -1
	s.open = s.open[:0]
	for {
		b := s.buf[s.pos:s.end] // fill may move the data: take it afresh
		// Skip the bytes that never matter (letters, digits, ...) at once;
		// below the top level only strings and brackets do.
		table := &structural
		if depth > 1 {
			table = &nested
		}
		for i < len(b) && !table[b[i]] {
			i++
		}
		if i >= len(b) {
			if !s.fill() {
				return nil, nil, nil, s.endErr()
			}
			continue
		}
		c := b[i]
		switch c {
		case '"':
			start := i + 1
			// Fast path: the closing quote is buffered and not escaped.
			var end int
			if q := bytes.IndexByte(b[start:], '"'); q >= 0 && b[start+q-1] != '\\' {
				end = start + q
			} else {
				var ok bool
				if end, ok = s.stringEnd(start); !ok {
					return nil, nil, nil, s.endErr()
				}
			}
			if isObject && depth == 1 {
				str := s.buf[s.pos+start : s.pos+end]
				switch {
				case expectKey:
					expectKey = false
					key = memberOther
					if bytes.IndexByte(str, '\\') >= 0 {
						// An escaped key may spell "_id" or "createdAt":
						// both are left to the decoder, which unescapes.
						idKey, timeKey = true, true
						idAt[0], timeAt[0] = -1, -1
					} else if string(str) == "_id" && !idKey {
						key, idKey = memberID, true
					} else if string(str) == "createdAt" && !timeKey {
						key, timeKey = memberCreatedAt, true
					}
				case valueFor != memberOther && bytes.IndexByte(str, '\\') < 0:
					if valueFor == memberID {
						idAt = [2]int{start, end}
					} else {
						timeAt = [2]int{start, end}
					}
				}
				valueFor = memberOther
			}
			i = end + 1
			if depth == 0 {
				return s.finish(i, idAt, timeAt)
			}
			continue
		case '{', '[':
			depth++
			s.open = append(s.open, c)
			if depth == 1 && c == '{' {
				expectKey = true
			}
			valueFor = memberOther
		case '}', ']':
			if depth == 0 { // the array closes right after a scalar element
				return s.finish(i, idAt, timeAt)
			}
			// A closer must match its opener: [{"a":[}, {...}] is one
			// broken element, not two whole ones.
			if opener := s.open[len(s.open)-1]; opener != c-2 { // '{'+2 == '}', '['+2 == ']'
				return nil, nil, nil, s.syntax("mismatched brackets")
			}
			s.open = s.open[:len(s.open)-1]
			depth--
			if depth == 0 {
				return s.finish(i+1, idAt, timeAt)
			}
			if depth < 0 {
				return nil, nil, nil, s.syntax("unbalanced brackets")
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 { // the end of a scalar element
				return s.finish(i, idAt, timeAt)
			}
		case ':':
			if depth == 1 {
				valueFor, key = key, memberOther
			}
		case ',':
			if depth == 0 {
				return s.finish(i, idAt, timeAt)
			}
			if depth == 1 {
				expectKey = isObject
				valueFor = memberOther
			}
		}
		i++
	}
}

// structural marks the bytes element looks at outside strings; nested, the
// ones that matter below the top level of the element.
var structural, nested = byteSet("\"{}[],: \t\n\r"), byteSet("\"{}[]")

func byteSet(chars string) (t [256]bool) {
	for i := range len(chars) {
		t[chars[i]] = true
	}
	return t
}

// stringEnd returns the offset (relative to pos) of the quote closing the
// string that starts at from, reading as needed.
func (s *arrayScanner) stringEnd(from int) (int, bool) {
	i := from
	for {
		q := bytes.IndexByte(s.buf[s.pos+i:s.end], '"')
		if q < 0 {
			i = s.end - s.pos
			if !s.fill() {
				return 0, false
			}
			continue
		}
		i += q
		// A quote preceded by an odd number of backslashes is escaped.
		bs := 0
		for k := s.pos + i - 1; k >= s.pos+from && s.buf[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return i, true
		}
		i++
	}
}

func (s *arrayScanner) finish(n int, idAt, createdAtAt [2]int) (raw, id, createdAt []byte, err error) {
	raw = s.buf[s.pos : s.pos+n]
	s.start = s.offset + int64(s.pos)
	s.stop = s.start + int64(n)
	if idAt[0] >= 0 {
		id = raw[idAt[0]:idAt[1]]
	}
	if createdAtAt[0] >= 0 {
		createdAt = raw[createdAtAt[0]:createdAtAt[1]]
	}
	s.pos += n
	return raw, id, createdAt, nil
}

// close reads past the closing bracket at pos to the end of the input.
// Only white space may follow: anything else (a proxy's error page) means
// the body is not one JSON array.
func (s *arrayScanner) close() error {
	s.state = scanDone
	s.pos++
	if s.skipSpace() {
		return s.syntax("data after the closing ']'")
	}
	if s.readErr != io.EOF {
		return s.readErr
	}
	return io.EOF
}

// comma reads the white space and comma after an element, so that pos is
// at the next one. It returns false, having read only white space, when no
// comma follows (the array ends, or the body is broken: next says how).
func (s *arrayScanner) comma() bool {
	if s.state != scanElements || !s.skipSpace() || s.buf[s.pos] != ',' {
		return false
	}
	s.pos++
	s.state = scanAfterComma
	return s.skipSpace()
}

// buffered returns the size bytes at stream offset from, reading as
// needed; nil when the input ends first, or when they were let go already.
func (s *arrayScanner) buffered(from, size int64) []byte {
	if from < s.offset {
		return nil
	}
	hold := s.hold
	if hold < 0 || from < hold {
		s.hold = from
	}
	defer func() { s.hold = hold }()
	for s.offset+int64(s.end) < from+size {
		if !s.fill() {
			return nil
		}
	}
	i := int(from - s.offset)
	return s.buf[i : i+int(size)]
}

// skipTo moves past everything before stream offset at, which ends an
// element: the scanner then expects a comma or the closing bracket.
func (s *arrayScanner) skipTo(at int64) {
	s.pos = int(at - s.offset)
	s.state = scanElements
}
