package arrowbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The JSONParser's fast path: for a schema of flat columns (integers, floats, booleans and
// strings, and maps of string keys to those), a document is decoded in one pass by a hand-written scanner straight into the
// column builders, without the generic decoder's tokens, interfaces and unquoted strings.
//
// The fast path only ever accepts a document it is sure the generic path (arrow-go's
// UnmarshalOne and the jsonColumn builders) would accept with the same values: a well-formed
// object, every key without escapes and seen once, every value of a schema column of a kind it
// decodes the same way (a number that fits an integer column, a string without surrogate
// escapes for a string column, and so on). Anything else, including every error, is left to
// the generic path for that document, so values and row errors are the same as before. The
// scan validates the whole document before it appends anything, so a document it gives up on
// leaves no trace in the builders.

// fastKind is the kind of a column the fast path decodes.
type fastKind uint8

const (
	fastInt fastKind = iota + 1
	fastUint
	fastFloat
	fastBool
	fastString
	fastMap // of string keys and values of another kind
)

// fastColumn is a column the fast path decodes.
type fastColumn struct {
	kind fastKind
	bits int // of an integer or float column
	// A map's values, and whether they may be null.
	item         *fastColumn
	itemNullable bool
}

// fastPlan is what a parser's fast path knows of its schema, computed once.
type fastPlan struct {
	index map[string]int // column name -> column
	cols  []fastColumn
}

// newFastPlan returns the fast path's plan for schema, or nil if a column is of a type it does
// not decode (or two columns share a name).
func newFastPlan(schema *arrow.Schema) *fastPlan {
	p := &fastPlan{index: make(map[string]int, schema.NumFields())}
	for i, f := range schema.Fields() {
		if _, dup := p.index[f.Name]; dup {
			return nil
		}
		p.index[f.Name] = i
		c, ok := scalarColumn(f.Type)
		if mt, isMap := f.Type.(*arrow.MapType); isMap {
			// A map of string keys and scalar values (json_map.go).
			item, scalar := scalarColumn(mt.ItemType())
			key := mt.KeyType().ID()
			if !scalar || (key != arrow.STRING && key != arrow.LARGE_STRING) {
				return nil
			}
			c, ok = fastColumn{kind: fastMap, item: &item, itemNullable: mt.ItemField().Nullable}, true
		}
		if !ok {
			return nil
		}
		p.cols = append(p.cols, c)
	}
	return p
}

// slot is the value of one column found by the scan of a document.
type slot struct {
	gen   uint32 // the document it was set by
	null  bool
	esc   bool  // a string with escapes
	start int32 // a string's contents, or a number's or literal's text
	end   int32
	i     int64
	u     uint64
	f     float64
	b     bool
}

// fastDecoder decodes documents into the builders of one RecordBuilder. It is used by one
// parse call only.
type fastDecoder struct {
	plan    *fastPlan
	appends []func(s *slot, doc []byte) // per column; s == nil appends a null
	slots   []slot
	gen     uint32
	unknown [][]byte // the keys not in the schema of the current document
	scratch []byte
	strs    []*array.BinaryBuilder // the data of the string columns
	// The keys of the map being scanned, and its current value.
	mapKeys  [][]byte
	itemSlot slot
}

// reserveRows is the number of rows after which the decoder reserves the string columns' data
// for the rest of the batch (see reserve).
const reserveRows = 32

// reserve reserves the data of the string columns for n more rows, at the rate of the done
// rows so far (up to 64 MiB a column), to save the builders' repeated growing and copying.
func (d *fastDecoder) reserve(done, n int) {
	if done <= 0 || n <= 0 {
		return
	}
	const most = 64 << 20 // a guess from a few rows is not worth more
	for _, b := range d.strs {
		b.ReserveData(int(min(int64(b.DataLen())*int64(n)/int64(done)*9/8, most)))
	}
}

func newFastDecoder(plan *fastPlan, b *array.RecordBuilder) *fastDecoder {
	d := &fastDecoder{plan: plan, slots: make([]slot, len(plan.cols)), appends: make([]func(*slot, []byte), len(plan.cols))}
	for i, fb := range b.Fields() {
		if ext, ok := fb.(*jsonColumnBuilder); ok {
			fb = ext.StorageBuilder()
		}
		if mb, ok := fb.(*array.MapBuilder); ok {
			d.appends[i] = d.mapAppender(mb, plan.cols[i])
		} else {
			d.appends[i] = d.appender(fb)
		}
		if d.appends[i] == nil {
			return nil
		}
	}
	return d
}

// appender returns the function that appends a scanned value to fb.
func (d *fastDecoder) appender(fb array.Builder) func(*slot, []byte) {
	switch b := fb.(type) {
	case *array.Int8Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(int8(s.i)) }) }
	case *array.Int16Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(int16(s.i)) }) }
	case *array.Int32Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(int32(s.i)) }) }
	case *array.Int64Builder:
		return func(s *slot, _ []byte) {
			if s == nil || s.null {
				b.AppendNull()
				return
			}
			b.Append(s.i)
		}
	case *array.Uint8Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(uint8(s.u)) }) }
	case *array.Uint16Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(uint16(s.u)) }) }
	case *array.Uint32Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(uint32(s.u)) }) }
	case *array.Uint64Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(s.u) }) }
	case *array.Float32Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(float32(s.f)) }) }
	case *array.Float64Builder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(s.f) }) }
	case *array.BooleanBuilder:
		return func(s *slot, _ []byte) { nullOr(b, s, func() { b.Append(s.b) }) }
	case *array.StringBuilder:
		d.strs = append(d.strs, b.BinaryBuilder)
		return func(s *slot, doc []byte) {
			if s == nil || s.null {
				b.AppendNull()
				return
			}
			b.BinaryBuilder.Append(d.text(s, doc))
		}
	case *array.LargeStringBuilder:
		d.strs = append(d.strs, b.BinaryBuilder)
		return func(s *slot, doc []byte) {
			if s == nil || s.null {
				b.AppendNull()
				return
			}
			b.BinaryBuilder.Append(d.text(s, doc))
		}
	}
	return nil
}

// mapAppender returns the function that appends a scanned map, of column c, to mb.
func (d *fastDecoder) mapAppender(mb *array.MapBuilder, c fastColumn) func(*slot, []byte) {
	var key *array.BinaryBuilder
	switch kb := mb.KeyBuilder().(type) {
	case *array.StringBuilder:
		key = kb.BinaryBuilder
	case *array.LargeStringBuilder:
		key = kb.BinaryBuilder
	default:
		return nil
	}
	ib := mb.ItemBuilder()
	if ext, ok := ib.(*jsonColumnBuilder); ok {
		ib = ext.StorageBuilder()
	}
	item := d.appender(ib)
	if item == nil || c.kind != fastMap {
		return nil
	}
	emit := func(k []byte, v *slot, doc []byte) {
		key.Append(k)
		item(v, doc)
	}
	return func(s *slot, doc []byte) {
		if s == nil || s.null {
			mb.AppendNull()
			return
		}
		mb.Append(true)
		d.scanMap(doc, int(s.start), c, emit) // checked by the scan
	}
}

// scanMap scans the object at t[i] for map column c and returns the index after it. With emit
// nil it checks the object: every key without escapes and seen once, every value of a kind
// value decodes for the map's values (null only if they are nullable); with emit, it calls
// emit with each entry of an object it checked before.
func (d *fastDecoder) scanMap(t []byte, i int, c fastColumn, emit func(key []byte, v *slot, doc []byte)) (int, bool) {
	d.mapKeys = d.mapKeys[:0]
	i = skipSpace(t, i+1)
	if i < len(t) && t[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return 0, false
		}
		q := bytes.IndexByte(t[i+1:], '"')
		if q < 0 {
			return 0, false
		}
		key := t[i+1 : i+1+q]
		if emit == nil {
			if bytes.IndexByte(key, '\\') >= 0 || !plainText(key) || len(d.mapKeys) >= 64 {
				return 0, false // left to the generic path
			}
			for _, k := range d.mapKeys {
				if string(k) == string(key) {
					return 0, false // twice: an error
				}
			}
			d.mapKeys = append(d.mapKeys, key)
		}
		i = skipSpace(t, i+q+2)
		if i >= len(t) || t[i] != ':' {
			return 0, false
		}
		i = skipSpace(t, i+1)
		var ok bool
		v := &d.itemSlot
		if i, ok = d.value(t, i, *c.item, v); !ok || (v.null && !c.itemNullable) {
			return 0, false
		}
		if emit != nil {
			emit(key, v, t)
		}
		i = skipSpace(t, i)
		if i >= len(t) {
			return 0, false
		}
		switch t[i] {
		case ',':
			i = skipSpace(t, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func nullOr(b array.Builder, s *slot, appendValue func()) {
	if s == nil || s.null {
		b.AppendNull()
		return
	}
	appendValue()
}

// text returns the text of a string column's value: a string's contents, unescaped, or the
// text of a number or literal.
func (d *fastDecoder) text(s *slot, doc []byte) []byte {
	raw := doc[s.start:s.end]
	if !s.esc {
		return raw
	}
	d.scratch = unescape(d.scratch[:0], raw)
	return d.scratch
}

// decode appends document t, an object trimmed of spaces, to the builders and reports true, or
// reports false and appends nothing if the generic path must decode it. It checks that t is
// valid UTF-8 (every byte outside strings must be ASCII, and strings are checked), so it
// gives up on a document the generic path would see with U+FFFD replacements.
func (d *fastDecoder) decode(t []byte) bool {
	if len(t) > 1<<30 || !d.scan(t) {
		return false
	}
	for i, app := range d.appends {
		s := &d.slots[i]
		if s.gen != d.gen {
			s = nil
		}
		app(s, t)
	}
	return true
}

// scan validates document t and records its columns' values in the slots.
func (d *fastDecoder) scan(t []byte) bool {
	d.gen++
	if d.gen == 0 { // wrapped: forget every slot
		for i := range d.slots {
			d.slots[i].gen = 0
		}
		d.gen = 1
	}
	d.unknown = d.unknown[:0]
	if len(t) < 2 || t[0] != '{' {
		return false
	}
	i := skipSpace(t, 1)
	if i < len(t) && t[i] == '}' {
		return i+1 == len(t)
	}
	for {
		// A key.
		if i >= len(t) || t[i] != '"' {
			return false
		}
		q := bytes.IndexByte(t[i+1:], '"')
		if q < 0 {
			return false
		}
		key := t[i+1 : i+1+q]
		if bytes.IndexByte(key, '\\') >= 0 || !plainText(key) {
			return false
		}
		i += q + 1
		i = skipSpace(t, i+1)
		if i >= len(t) || t[i] != ':' {
			return false
		}
		i = skipSpace(t, i+1)
		col, known := d.plan.index[string(key)]
		var ok bool
		if known {
			s := &d.slots[col]
			if s.gen == d.gen {
				return false // twice: an error
			}
			s.gen = d.gen
			i, ok = d.value(t, i, d.plan.cols[col], s)
		} else {
			for _, k := range d.unknown {
				if string(k) == string(key) {
					return false // twice: an error
				}
			}
			if len(d.unknown) >= 64 {
				return false
			}
			d.unknown = append(d.unknown, key)
			i, ok = skipValue(t, i)
		}
		if !ok {
			return false
		}
		i = skipSpace(t, i)
		if i >= len(t) {
			return false
		}
		switch t[i] {
		case ',':
			i = skipSpace(t, i+1)
		case '}':
			return i+1 == len(t)
		default:
			return false
		}
	}
}

// value scans the value at t[i] for column c into s, and returns the index after it; ok is
// false if the generic path must decode the document.
func (d *fastDecoder) value(t []byte, i int, c fastColumn, s *slot) (next int, ok bool) {
	if i >= len(t) {
		return 0, false
	}
	s.null, s.esc = false, false
	switch t[i] {
	case 'n':
		if !hasLiteral(t, i, "null") {
			return 0, false
		}
		s.null = true
		return i + 4, true
	case 't', 'f':
		lit := "true"
		if t[i] == 'f' {
			lit = "false"
		}
		if !hasLiteral(t, i, lit) {
			return 0, false
		}
		switch c.kind {
		case fastBool:
			s.b = lit == "true"
		case fastString:
			s.start, s.end = int32(i), int32(i+len(lit))
		default:
			return 0, false
		}
		return i + len(lit), true
	case '{':
		if c.kind != fastMap {
			return 0, false
		}
		end, ok := d.scanMap(t, i, c, nil)
		if !ok {
			return 0, false
		}
		s.start, s.end = int32(i), int32(end)
		return end, true
	case '"':
		if c.kind != fastString {
			return 0, false
		}
		end, esc, ok := scanString(t, i, true)
		if !ok {
			return 0, false
		}
		s.start, s.end, s.esc = int32(i+1), int32(end-1), esc
		return end, true
	}
	end, ok := scanNumber(t, i)
	if !ok {
		return 0, false
	}
	if c.kind == fastString {
		s.start, s.end = int32(i), int32(end)
		return end, true
	}
	if ok, err := s.setNumber(unsafe.String(&t[i], end-i), c); !ok || err != nil {
		return 0, false
	}
	return end, true
}

// setNumber parses the JSON number num into s for an integer or float column c; ok is false
// for a column of another kind.
func (s *slot) setNumber(num string, c fastColumn) (ok bool, err error) {
	switch c.kind {
	case fastInt:
		s.i, err = strconv.ParseInt(num, 10, c.bits)
	case fastUint:
		s.u, err = strconv.ParseUint(num, 10, c.bits)
	case fastFloat:
		// A number out of range is ±Infinity (or 0), as Jackson reads it for Spark.
		if s.f, err = strconv.ParseFloat(num, c.bits); errors.Is(err, strconv.ErrRange) {
			err = nil
		}
	default:
		return false, nil
	}
	return true, err
}

func hasLiteral(t []byte, i int, lit string) bool {
	return len(t)-i >= len(lit) && string(t[i:i+len(lit)]) == lit
}

func skipSpace(t []byte, i int) int {
	for i < len(t) {
		switch t[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the string whose opening quote is at t[i] and returns the index after its
// closing quote, and whether it has escapes. With strict, it refuses \u escapes of surrogates
// (whose decoding the fast path leaves to the generic one).
func scanString(t []byte, i int, strict bool) (end int, esc, ok bool) {
	i++
	for {
		q := bytes.IndexByte(t[i:], '"')
		if q < 0 {
			return 0, false, false
		}
		seg := t[i : i+q]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			if !plainText(seg) {
				return 0, false, false
			}
			return i + q + 1, esc, true
		}
		if !plainText(seg[:bs]) {
			return 0, false, false
		}
		esc = true
		i += bs + 1 // the escaped character
		if i >= len(t) {
			return 0, false, false
		}
		switch t[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i++
		case 'u':
			if len(t)-i < 5 {
				return 0, false, false
			}
			r, ok := hex4(t[i+1 : i+5])
			if !ok || (strict && utf16.IsSurrogate(r)) {
				return 0, false, false
			}
			i += 5
		default:
			return 0, false, false
		}
	}
}

// plainText reports whether s may be part of a JSON string as it is: valid UTF-8 without
// bytes below 0x20.
func plainText(s []byte) bool {
	const highs, spaces = 0x8080808080808080, 0x2020202020202020
	all, ascii := s, true
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		// A byte b < 0x20 (with its high bit clear) turns b - 0x20 negative.
		if (x-spaces)&^x&highs != 0 {
			return false
		}
		if x&highs != 0 {
			ascii = false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(all)
}

func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the contents of a string, checked by scanString, to buf.
func unescape(buf, s []byte) []byte {
	for {
		bs := bytes.IndexByte(s, '\\')
		if bs < 0 {
			return append(buf, s...)
		}
		buf = append(buf, s[:bs]...)
		s = s[bs+1:]
		n := 1
		switch s[0] {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, _ := hex4(s[1:5])
			buf = utf8.AppendRune(buf, r)
			n = 5
		default: // " \ /
			buf = append(buf, s[0])
		}
		s = s[n:]
	}
}

// scanNumber scans the JSON number at t[i] and returns the index after it.
func scanNumber(t []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(t) && t[i] == '-' {
		i++
	}
	switch {
	case i >= len(t):
		return 0, false
	case t[i] == '0':
		i++
	case t[i] >= '1' && t[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, false
	}
	if i < len(t) && t[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// skipValue skips the JSON value at t[i], checking its syntax, and returns the index after
// it. It keeps no recursion (documents come from outside) and allocates nothing for nesting
// up to 64 levels; deeper values are refused.
func skipValue(t []byte, i int) (int, bool) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // the open '{' and '['
	for {
		// A value at t[i].
		if i >= len(t) {
			return 0, false
		}
		var ok bool
		switch c := t[i]; c {
		case '"':
			i, _, ok = scanString(t, i, false)
		case 'n':
			ok = hasLiteral(t, i, "null")
			i += 4
		case 't':
			ok = hasLiteral(t, i, "true")
			i += 4
		case 'f':
			ok = hasLiteral(t, i, "false")
			i += 5
		case '{', '[':
			if len(stack) == cap(stackBuf) {
				return 0, false // deep: left to the generic path and its limits
			}
			stack = append(stack, c)
			i = skipSpace(t, i+1)
			if i < len(t) && t[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				ok = true
				break
			}
			if c == '{' {
				if i, ok = skipKey(t, i); !ok {
					return 0, false
				}
			}
			continue
		default:
			start := i
			if i, ok = scanNumber(t, i); ok {
				// One out of float64's range is left to the generic path, which drops the
				// key (json_dedup.go).
				_, err := strconv.ParseFloat(unsafe.String(&t[start], i-start), 64)
				ok = err == nil
			}
		}
		if !ok {
			return 0, false
		}
		// After a value: the end of its containers, or the next element.
		for {
			if len(stack) == 0 {
				return i, true
			}
			i = skipSpace(t, i)
			if i >= len(t) {
				return 0, false
			}
			top := stack[len(stack)-1]
			if t[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if t[i] != ',' {
				return 0, false
			}
			i = skipSpace(t, i+1)
			if top == '{' {
				if i, ok = skipKey(t, i); !ok {
					return 0, false
				}
			}
			break
		}
	}
}

// skipKey skips an object's key and its colon at t[i] and the spaces after them.
func skipKey(t []byte, i int) (int, bool) {
	if i >= len(t) || t[i] != '"' {
		return 0, false
	}
	i, _, ok := scanString(t, i, false)
	if !ok {
		return 0, false
	}
	i = skipSpace(t, i)
	if i >= len(t) || t[i] != ':' {
		return 0, false
	}
	return skipSpace(t, i+1), true
}
