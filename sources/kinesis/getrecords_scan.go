package kinesis

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file reads the JSON body of a GetRecords answer (the awsJson1_1 protocol) in one pass,
// for exactly its shape:
//
//	{"Records":[{"Data":"<base64>","PartitionKey":"...","SequenceNumber":"...",
//	             "ApproximateArrivalTimestamp":1.700000060123E9,"EncryptionType":"KMS"}, ...],
//	 "NextShardIterator":"...","MillisBehindLatest":0,"ChildShards":[...]}
//
// The records become kinRecords that alias the body (the batch builder then decodes the base64
// data straight into the Arrow data column); every other member of the answer is left to the
// SDK's own deserializer, which gets the body with the Records array cut out (see
// scanner.rest). It decodes what the SDK's deserializer decodes, the same way: members in any
// order, unknown members skipped, null members ignored, a null record read as an empty one,
// the last of repeated members winning, JSON escapes (\uXXXX with surrogate pairs, \/ and the
// rest) resolved as encoding/json does. A body that is not valid JSON of that shape is an
// error naming the byte offset; it never panics.

// maxDepth bounds the nesting of the values skipped, as encoding/json and the SDK do.
const maxDepth = 10000

// scratch is the reusable memory of decoding one GetRecords answer: the HTTP body, the records
// scanned from it, unescaped strings and decoded data. Pooled: an answer holds up to 10 MB of
// data (about 14 MB of JSON), which is not worth allocating and zeroing per call.
type scratch struct {
	scanner
	body []byte
}

// scratchFree holds the scratches kept for reuse, at most maxFreeScratch of them. Not a
// sync.Pool: under the churn of decoding, which runs a garbage collection every few answers, a
// sync.Pool holds its items until the second collection after they were put, while the calls
// in flight allocate new ones, so it kept about twice the bodies in use (15 bodies, 210 MB, for
// 8 prefetching tasks in the memory run of bench/cmd/sluicebench). A bounded free list keeps no
// more than the calls that run at once can use on the machine's cores; a call that finds it
// empty allocates, and a scratch put into a full list is dropped.
var scratchFree = make(chan *scratch, maxFreeScratch)

// maxFreeScratch is the capacity of scratchFree: one scratch per core, from 2 to 8.
var maxFreeScratch = min(max(runtime.GOMAXPROCS(0), 2), 8)

func getScratch() *scratch {
	select {
	case sc := <-scratchFree:
		return sc
	default:
		return new(scratch)
	}
}

func putScratch(sc *scratch) {
	sc.b, sc.tsTok = nil, nil
	select {
	case scratchFree <- sc:
	default:
	}
}

// decodeBase64 decodes base64 text of a scanned Data string into sc.buf, resolving JSON
// escapes first when it has any. The result is valid until the next call.
func (sc *scanner) decodeBase64(b64 []byte) ([]byte, error) {
	sc.buf = growBytes(sc.buf, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(sc.buf, b64)
	if err == nil && n == decodedLen(b64) {
		return sc.buf[:n], nil
	}
	// Escapes, line breaks, other bytes: unescape as the SDK does (refusing control
	// characters), then decode as it does.
	u, err := unescape(sc.esc[:0], b64)
	sc.esc = u
	if err != nil {
		return nil, err
	}
	sc.buf = growBytes(sc.buf, base64.StdEncoding.DecodedLen(len(u)))
	n, err = base64.StdEncoding.Decode(sc.buf, u)
	if err != nil {
		return nil, fmt.Errorf("not valid base64: %w", err)
	}
	return sc.buf[:n], nil
}

// growBytes returns b with length n, reusing its memory when it is large enough.
func growBytes(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// scanner reads one GetRecords body. Its records' strings alias the body or the arena, so
// they are valid until the scanner is used again.
type scanner struct {
	b     []byte // the body
	i     int    // the next byte to read
	recs  []kinRecord
	arena []byte   // unescaped strings
	key   []byte   // an unescaped member name
	cuts  [][2]int // the Records arrays: [start, end) in the body
	stack []byte   // the closing brackets of the containers that skipValue is in
	tsTok []byte   // the last ApproximateArrivalTimestamp number, and its value
	tsVal int64
	buf   []byte // the decoded data of aggregates and of escaped data
	esc   []byte // unescaped base64 text
}

// syntaxError says what is wrong with a GetRecords body, and at which byte.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return "byte " + strconv.Itoa(e.off) + ": " + e.msg }

func (s *scanner) fail(msg string) error { return &syntaxError{off: s.i, msg: msg} }

// unexpected reports that what was expected is not at s.i.
func (s *scanner) unexpected(what string) error {
	if s.i >= len(s.b) {
		return s.fail("unexpected end of the answer; expected " + what)
	}
	return s.fail(fmt.Sprintf("expected %s, found %q", what, s.b[s.i]))
}

// scan reads body. An empty body is an answer without records, as for the SDK.
func (s *scanner) scan(body []byte) error {
	s.b, s.i = body, 0
	s.recs, s.arena, s.cuts, s.tsTok = s.recs[:0], s.arena[:0], s.cuts[:0], nil
	if len(body) == 0 {
		return nil
	}
	switch s.peek() {
	case '{':
		s.i++
		if err := s.answer(); err != nil {
			return err
		}
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
	default:
		return s.unexpected("an object")
	}
	if s.ws(); s.i != len(s.b) {
		return s.fail("data after the answer")
	}
	return nil
}

// ws skips white space.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// answer reads the members of the answer object, after its '{'.
func (s *scanner) answer() error {
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.memberName()
		if err != nil {
			return err
		}
		if string(key) != "Records" {
			err = s.skipValue()
		} else {
			switch s.peek() {
			case '[':
				start := s.i
				s.recs = s.recs[:0] // a repeated member replaces the earlier one
				if err = s.records(); err == nil {
					s.cuts = append(s.cuts, [2]int{start, s.i})
				}
			case 'n':
				err = s.literal("null") // a null member is ignored
			default:
				err = s.unexpected("Records, an array")
			}
		}
		if err != nil {
			return err
		}
		if done, err := s.endOfMember('}'); done || err != nil {
			return err
		}
	}
}

// endOfMember reads the ',' after a member or element, or the closing bracket.
func (s *scanner) endOfMember(closing byte) (done bool, err error) {
	switch s.peek() {
	case ',':
		s.i++
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, s.unexpected("',' or '" + string(closing) + "'")
}

// records reads the Records array, from its '['.
func (s *scanner) records() error {
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		switch s.peek() {
		case '{':
			s.i++
			if err := s.record(); err != nil {
				return err
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
			s.recs = append(s.recs, kinRecord{}) // the SDK reads a null record as an empty one
		default:
			return s.unexpected("a record (an object)")
		}
		if done, err := s.endOfMember(']'); done || err != nil {
			return err
		}
	}
}

// record reads one record's members, after its '{'.
func (s *scanner) record() error {
	var r kinRecord
	if s.peek() == '}' {
		s.i++
		s.recs = append(s.recs, r)
		return nil
	}
	for {
		key, err := s.memberName()
		if err != nil {
			return err
		}
		c := s.peek()
		switch {
		case s.i >= len(s.b):
			return s.unexpected("a value")
		case c == 'n':
			err = s.literal("null") // a null member is ignored, known or not
		case string(key) == "Data":
			if c != '"' {
				return s.unexpected("Data, a base64 string")
			}
			if r.data != nil {
				// A repeated member: the SDK decodes every one, and fails on any that is not
				// base64; only the last is kept.
				if _, err := s.decodeBase64(r.data); err != nil {
					return fmt.Errorf("byte %d: Data: %w", r.off, err)
				}
			}
			r.off = s.i
			start, end, derr := s.dataString()
			r.data, err = s.b[start:end:end], derr
			r.dlen = decodedLen(r.data) // while its end is in the cache
		case string(key) == "SequenceNumber":
			if c != '"' {
				return s.unexpected("SequenceNumber, a string")
			}
			r.seq, err = s.str()
		case string(key) == "PartitionKey":
			if c != '"' {
				return s.unexpected("PartitionKey, a string")
			}
			r.pk, err = s.str()
		case string(key) == "ApproximateArrivalTimestamp":
			r.ts, err = s.timestamp()
		case string(key) == "EncryptionType":
			if c != '"' {
				return s.unexpected("EncryptionType, a string")
			}
			err = s.skipString()
		default:
			err = s.skipValue()
		}
		if err != nil {
			return err
		}
		if done, err := s.endOfMember('}'); err != nil {
			return err
		} else if done {
			s.recs = append(s.recs, r)
			return nil
		}
	}
}

// memberName reads a member's name and the ':' after it. The name is unescaped; it is valid
// until the next call.
func (s *scanner) memberName() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a member name")
	}
	start := s.i + 1
	end, escaped, err := s.stringEnd(start)
	if err != nil {
		return nil, err
	}
	name := s.b[start:end]
	if escaped {
		s.key, _ = unescape(s.key[:0], name)
		name = s.key
	}
	s.i = end + 1
	if s.peek() != ':' {
		return nil, s.unexpected("':'")
	}
	s.i++
	return name, nil
}

// stringEnd returns the index of the closing quote of the string whose content starts at
// start, checking its escapes and that it holds no control characters; escaped says whether
// it has escapes.
func (s *scanner) stringEnd(start int) (end int, escaped bool, err error) {
	b := s.b
	i := start
	// Eight bytes at a time up to the first quote, backslash or control character.
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if m := hasLess(v, 0x20) | hasByte(v, '"') | hasByte(v, '\\'); m != 0 {
			i += bits.TrailingZeros64(m) / 8
			break
		}
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i, escaped, nil
		case c == '\\':
			escaped = true
			n := escapeLen(b[i:])
			if n == 0 {
				s.i = i
				return 0, false, s.fail("invalid escape in a string")
			}
			i += n - 1
		case c < 0x20:
			s.i = i
			return 0, false, s.fail("control character in a string")
		}
	}
	s.i = start - 1
	return 0, false, s.fail("unterminated string")
}

// Bit tricks on eight bytes at a time (little-endian): the result is not zero exactly when
// some byte of v equals c (hasByte), or is less than n (hasLess, for n <= 128), and its
// lowest set bit is the high bit of the first such byte (bits above it may be wrong).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasByte(v uint64, c byte) uint64 {
	x := v ^ (ones * uint64(c))
	return (x - ones) &^ x & highs
}

func hasLess(v uint64, n byte) uint64 { return (v - ones*uint64(n)) &^ v & highs }

// escapeLen returns the length of the escape at the start of b, or 0 if it is not valid JSON.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if _, ok := hex4(b[2:]); ok {
			return 6
		}
	}
	return 0
}

// hex4 decodes the 4 hexadecimal digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// str reads a string value. It aliases the body, or the arena when it has escapes.
func (s *scanner) str() (string, error) {
	start := s.i + 1
	end, escaped, err := s.stringEnd(start)
	if err != nil {
		return "", err
	}
	s.i = end + 1
	if !escaped {
		if end == start {
			return "", nil
		}
		return unsafe.String(&s.b[start], end-start), nil
	}
	a := len(s.arena)
	s.arena, _ = unescape(s.arena, s.b[start:end])
	if len(s.arena) == a {
		return "", nil
	}
	// Appending to the arena later never changes these bytes: either it writes after them or
	// it moves the arena to new memory and leaves them where they are.
	return unsafe.String(&s.arena[a], len(s.arena)-a), nil
}

// skipString reads a string value and drops it.
func (s *scanner) skipString() error {
	end, _, err := s.stringEnd(s.i + 1)
	if err == nil {
		s.i = end + 1
	}
	return err
}

// dataString reads the Data string: base64 text, which is long, and which Kinesis never
// escapes. It finds the closing quote without looking at the bytes before it; escapes, and
// bytes JSON does not allow, are dealt with if decoding the base64 fails.
func (s *scanner) dataString() (start, end int, err error) {
	start = s.i + 1
	i := start
	for {
		j := bytes.IndexByte(s.b[i:], '"')
		if j < 0 {
			return 0, 0, s.fail("unterminated string")
		}
		i += j
		k := i
		for k > start && s.b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 { // not an escaped quote
			s.i = i + 1
			return start, i, nil
		}
		i++
	}
}

// unescape appends the content of a JSON string (between its quotes) to dst with its escapes
// resolved, as encoding/json and the SDK resolve them: a \u escape of an unpaired surrogate,
// and bytes that are not UTF-8, become U+FFFD. It fails on a bad escape, an unescaped quote or
// a control character.
func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			n := escapeLen(s[i:])
			if n == 0 {
				return dst, fmt.Errorf("invalid escape at byte %d of a string", i)
			}
			if n == 2 {
				dst = append(dst, unescaped[s[i+1]])
				i += 2
				continue
			}
			r, _ := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if r2, ok := hex4(s[i+2:]); ok {
						if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
		case c == '"':
			return dst, fmt.Errorf("unescaped quote at byte %d of a string", i)
		case c < 0x20:
			return dst, fmt.Errorf("control character at byte %d of a string", i)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		}
	}
	return dst, nil
}

// unescaped maps the character of a two-byte escape to what it stands for.
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// literal reads true, false or null.
func (s *scanner) literal(lit string) error {
	if end := s.i + len(lit); end > len(s.b) || string(s.b[s.i:end]) != lit {
		return s.unexpected(lit)
	}
	s.i += len(lit)
	return nil
}

// number reads a JSON number.
func (s *scanner) number() error {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - j
	}
	start := i
	switch n := digits(); {
	case n == 0 && start == s.i:
		return s.unexpected("a number")
	case n == 0:
		s.i = i
		return s.unexpected("a digit")
	case n > 1 && b[start] == '0':
		s.i = start
		return s.fail("number with a leading zero")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return s.unexpected("a digit")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.i = i
			return s.unexpected("a digit")
		}
	}
	s.i = i
	return nil
}

// timestamp reads ApproximateArrivalTimestamp: epoch seconds. Like the SDK it also takes the
// strings "Infinity" and "-Infinity" (the SDK panics on "NaN", which is an error here).
func (s *scanner) timestamp() (int64, error) {
	start := s.i
	if s.b[start] == '"' {
		v, err := s.str()
		if err != nil {
			return 0, err
		}
		switch {
		case strings.EqualFold(v, "Infinity"):
			return epochMicros(math.Inf(1)), nil
		case strings.EqualFold(v, "-Infinity"):
			return epochMicros(math.Inf(-1)), nil
		}
		s.i = start
		return 0, s.fail("ApproximateArrivalTimestamp is a string, not a number")
	}
	if err := s.number(); err != nil {
		return 0, err
	}
	tok := s.b[start:s.i]
	if s.tsTok != nil && bytes.Equal(tok, s.tsTok) {
		return s.tsVal, nil // the records of an answer often arrived in the same millisecond
	}
	f, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
	if err != nil {
		s.i = start
		return 0, s.fail("ApproximateArrivalTimestamp out of range")
	}
	s.tsTok, s.tsVal = tok, epochMicros(f)
	return s.tsVal, nil
}

// epochMicros converts epoch seconds to microseconds exactly as the SDK's deserializer and
// decode do (smithy-go's time.ParseEpochSeconds, then time.Time.UnixMicro): to milliseconds,
// truncated toward zero and saturated to int64, then to nanoseconds in int64.
func epochMicros(sec float64) int64 {
	// big.Float multiplication at the 53-bit precision of sec rounds as float64's does; only
	// overflow differs, and both saturate below.
	ms := sec * 1000
	var i int64
	switch {
	case ms >= 0x1p63:
		i = math.MaxInt64
	case ms < -0x1p63:
		i = math.MinInt64
	default:
		i = int64(ms)
	}
	return time.Unix(0, i*1e6).UnixMicro()
}

// skipValue reads any JSON value and drops it.
func (s *scanner) skipValue() error {
	s.stack = s.stack[:0]
	for {
		// A value.
		switch s.peek() {
		case '{':
			s.i++
			if s.peek() == '}' {
				s.i++
				break
			}
			if len(s.stack) >= maxDepth {
				return s.fail("nested too deeply")
			}
			s.stack = append(s.stack, '}')
			if _, err := s.memberName(); err != nil {
				return err
			}
			continue
		case '[':
			s.i++
			if s.peek() == ']' {
				s.i++
				break
			}
			if len(s.stack) >= maxDepth {
				return s.fail("nested too deeply")
			}
			s.stack = append(s.stack, ']')
			continue
		case '"':
			if err := s.skipString(); err != nil {
				return err
			}
		case 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		default:
			if s.i >= len(s.b) || s.b[s.i] != '-' && (s.b[s.i] < '0' || s.b[s.i] > '9') {
				return s.unexpected("a value")
			}
			if err := s.number(); err != nil {
				return err
			}
		}
		// After a value: close the containers it ends, up to the next element.
		for {
			if len(s.stack) == 0 {
				return nil
			}
			closing := s.stack[len(s.stack)-1]
			done, err := s.endOfMember(closing)
			if err != nil {
				return err
			}
			if !done {
				if closing == '}' {
					if _, err := s.memberName(); err != nil {
						return err
					}
				}
				break
			}
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
}

// rest returns the body without its Records arrays, each replaced with null, for the SDK's
// deserializer to read the other members from. It does not alias the body.
func (s *scanner) rest() []byte {
	n := len(s.b)
	for _, c := range s.cuts {
		n += len("null") - (c[1] - c[0])
	}
	out := make([]byte, 0, n)
	prev := 0
	for _, c := range s.cuts {
		out = append(out, s.b[prev:c[0]]...)
		out = append(out, "null"...)
		prev = c[1]
	}
	return append(out, s.b[prev:]...)
}
