package operators

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
)

// This file holds the casts Cast does itself, with Spark 4's ANSI semantics, instead of
// arrow-go's compute casts (whose results differ from Spark's): string to the numbers, boolean,
// timestamp and date; numbers to the integers (truncating toward zero) and floating types;
// numbers and timestamps of any unit to timestamp; timestamps to numbers and date; date to
// timestamp. A value that does not convert fails its row with a *castError.

// castError is why one value did not convert.
type castError struct {
	col string // the column, when known
	to  string // the Spark name of the target type
	msg string // the value and what is wrong with it: `"0x10" is not a base-10 integer`
}

func (e *castError) Error() string {
	if e.col != "" {
		return "cast " + e.col + " to " + e.to + ": " + e.msg
	}
	return "cast to " + e.to + ": " + e.msg
}

// castFailure is the error of a row of column col that did not convert to type to.
func castFailure(col string, to arrow.DataType, err error) error {
	var ce *castError
	if errors.As(err, &ce) {
		c := *ce
		c.col = col
		return &c
	}
	return fmt.Errorf("cast %s to %s: %w", col, sparkName(to), err)
}

// sparkName returns the Spark SQL name of an Arrow type, or its Arrow name.
func sparkName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return "string"
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return "binary"
	case arrow.BOOL:
		return "boolean"
	case arrow.INT8:
		return "tinyint"
	case arrow.INT16:
		return "smallint"
	case arrow.INT32:
		return "int"
	case arrow.INT64:
		return "bigint"
	case arrow.FLOAT32:
		return "float"
	case arrow.FLOAT64:
		return "double"
	case arrow.TIMESTAMP:
		return "timestamp"
	case arrow.DATE32:
		return "date"
	}
	return t.String()
}

// srcKind classifies the castSource types of the Spark casts.
type srcKind int

const (
	srcNone srcKind = iota
	srcString
	srcSigned
	srcUnsigned
	srcFloat
	srcTimestamp
	srcDate
)

func castKindOf(t arrow.DataType) srcKind {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return srcString
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return srcSigned
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return srcUnsigned
	case arrow.FLOAT32, arrow.FLOAT64:
		return srcFloat
	case arrow.TIMESTAMP:
		return srcTimestamp
	case arrow.DATE32:
		return srcDate
	}
	return srcNone
}

// sparkCastable reports whether sparkCast converts type from to type to.
func sparkCastable(from, to arrow.DataType) bool {
	k := castKindOf(from)
	switch to.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return k == srcString || k == srcSigned || k == srcUnsigned || k == srcFloat || k == srcTimestamp
	case arrow.FLOAT32, arrow.FLOAT64:
		return k == srcString || k == srcSigned || k == srcUnsigned || k == srcFloat || k == srcTimestamp
	case arrow.BOOL:
		return k == srcString
	case arrow.TIMESTAMP:
		return to.(*arrow.TimestampType).Unit == arrow.Microsecond && k != srcNone
	case arrow.DATE32:
		return k == srcString || k == srcTimestamp
	}
	return false
}

// castSource reads the values of a cast's input column.
type castSource struct {
	arr  arrow.Array
	kind srcKind
	str  func(i int) string
	i64  func(i int) int64 // signed integers, timestamps, dates
	u64  func(i int) uint64
	f64  func(i int) float64
	ups  int64 // a timestamp's units per second
}

func newCastSource(arr arrow.Array) *castSource {
	s := &castSource{arr: arr, kind: castKindOf(arr.DataType())}
	switch a := arr.(type) {
	case interface{ Value(int) string }:
		s.str = a.Value
	case *array.Int8:
		s.i64 = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int16:
		s.i64 = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int32:
		s.i64 = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int64:
		s.i64 = a.Value
	case *array.Uint8:
		s.u64 = func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint16:
		s.u64 = func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint32:
		s.u64 = func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint64:
		s.u64 = a.Value
	case *array.Float32:
		s.f64 = func(i int) float64 { return float64(a.Value(i)) }
	case *array.Float64:
		s.f64 = a.Value
	case *array.Timestamp:
		s.i64 = func(i int) int64 { return int64(a.Value(i)) }
		s.ups = unitsPerSecond(arr.DataType().(*arrow.TimestampType).Unit)
	case *array.Date32:
		s.i64 = func(i int) int64 { return int64(a.Value(i)) }
	}
	return s
}

// show returns value i as an error message quotes it.
func (s *castSource) show(i int) string {
	if s.kind == srcString {
		return strconv.Quote(s.str(i))
	}
	return arrowbatch.FormatValue(s.arr, i)
}

// Problems of a value, after the value in a message.
const (
	outOfRange   = "is out of range"
	notFinite    = "is not a finite number"
	notInteger   = "is not a base-10 integer"
	notNumber    = "is not a number"
	notBoolean   = "is not a boolean"
	notTimestamp = "is not a valid timestamp"
	notDate      = "is not a valid date"
)

// int64 returns value i as a whole number, or what is wrong with it.
func (s *castSource) int64(i int) (int64, string) {
	switch s.kind {
	case srcString:
		return parseSparkInt(s.str(i))
	case srcSigned:
		return s.i64(i), ""
	case srcUnsigned:
		u := s.u64(i)
		if u > math.MaxInt64 {
			return 0, outOfRange
		}
		return int64(u), ""
	case srcFloat:
		f := s.f64(i)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, notFinite
		}
		f = math.Trunc(f)
		switch {
		case f < -0x1p63 || f > 0x1p63:
			return 0, outOfRange
		case f == 0x1p63:
			// Long.MaxValue is 2^63 as a double, so Spark's range check passes and Java's
			// conversion saturates.
			return math.MaxInt64, ""
		}
		return int64(f), ""
	case srcTimestamp:
		return floorDiv(s.i64(i), s.ups), ""
	}
	return 0, "cannot be converted"
}

// float64 returns value i as a floating-point number (of bits bits, for a string), or what is
// wrong with it.
func (s *castSource) float64(i, bits int) (float64, string) {
	switch s.kind {
	case srcString:
		return parseSparkFloat(s.str(i), bits)
	case srcSigned:
		return float64(s.i64(i)), ""
	case srcUnsigned:
		return float64(s.u64(i)), ""
	case srcFloat:
		return s.f64(i), ""
	case srcTimestamp:
		return float64(s.i64(i)) / float64(s.ups), "" // one division, as Spark's timestampToDouble
	}
	return 0, "cannot be converted"
}

// micros returns value i as microseconds since the epoch, or what is wrong with it.
func (s *castSource) micros(i int) (int64, string) {
	switch s.kind {
	case srcString:
		return parseSparkTimestamp(s.str(i))
	case srcSigned:
		return checkedMul(s.i64(i), 1e6)
	case srcUnsigned:
		u := s.u64(i)
		if u > math.MaxInt64 {
			return 0, outOfRange
		}
		return checkedMul(int64(u), 1e6)
	case srcFloat:
		f := s.f64(i)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, notFinite
		}
		f = math.Trunc(f * 1e6)
		if f < -0x1p63 || f >= 0x1p63 {
			return 0, outOfRange
		}
		return int64(f), ""
	case srcTimestamp:
		v := s.i64(i)
		if s.ups > 1e6 {
			return floorDiv(v, s.ups/1e6), ""
		}
		return checkedMul(v, 1e6/s.ups)
	case srcDate:
		return checkedMul(s.i64(i), 86400e6)
	}
	return 0, "cannot be converted"
}

// days returns value i as days since the epoch, or what is wrong with it.
func (s *castSource) days(i int) (int32, string) {
	switch s.kind {
	case srcString:
		return parseSparkDate(s.str(i))
	case srcTimestamp:
		d := floorDiv(s.i64(i), s.ups*86400)
		if d < math.MinInt32 || d > math.MaxInt32 {
			return 0, outOfRange
		}
		return int32(d), ""
	}
	return 0, "cannot be converted"
}

// sparkCast converts arr to type to when sparkCastable says it does (ok false otherwise). It
// returns the rows that did not convert, null in the result.
func sparkCast(mem memory.Allocator, arr arrow.Array, to arrow.DataType) (out arrow.Array, failed []arrowbatch.RowError, ok bool) {
	if !sparkCastable(arr.DataType(), to) {
		return nil, nil, false
	}
	s := newCastSource(arr)
	b := array.NewBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	name := sparkName(to)
	// each appends value i, or a null when it is null or does not convert.
	each := func(conv func(i int) string) {
		for i := range arr.Len() {
			if arr.IsNull(i) {
				b.AppendNull()
				continue
			}
			if problem := conv(i); problem != "" {
				b.AppendNull()
				failed = append(failed, arrowbatch.RowError{Row: i, Err: &castError{to: name, msg: s.show(i) + " " + problem}})
			}
		}
	}
	switch tb := b.(type) {
	case *array.Int8Builder:
		each(intConv(s, tb.Append))
	case *array.Int16Builder:
		each(intConv(s, tb.Append))
	case *array.Int32Builder:
		each(intConv(s, tb.Append))
	case *array.Int64Builder:
		each(intConv(s, tb.Append))
	case *array.Float32Builder:
		each(func(i int) string {
			f, p := s.float64(i, 32)
			if p == "" {
				tb.Append(float32(f))
			}
			return p
		})
	case *array.Float64Builder:
		each(func(i int) string {
			f, p := s.float64(i, 64)
			if p == "" {
				tb.Append(f)
			}
			return p
		})
	case *array.BooleanBuilder:
		each(func(i int) string {
			v, p := parseSparkBool(s.str(i))
			if p == "" {
				tb.Append(v)
			}
			return p
		})
	case *array.TimestampBuilder:
		each(func(i int) string {
			v, p := s.micros(i)
			if p == "" {
				tb.Append(arrow.Timestamp(v))
			}
			return p
		})
	case *array.Date32Builder:
		each(func(i int) string {
			v, p := s.days(i)
			if p == "" {
				tb.Append(arrow.Date32(v))
			}
			return p
		})
	default:
		return nil, nil, false
	}
	return b.NewArray(), failed, true
}

// intConv returns the conversion of s's values to the integer type T, range-checked.
func intConv[T int8 | int16 | int32 | int64](s *castSource, app func(T)) func(i int) string {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch any(T(0)).(type) {
	case int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case int32:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	return func(i int) string {
		v, p := s.int64(i)
		if p != "" {
			return p
		}
		if v < lo || v > hi {
			return outOfRange
		}
		app(T(v))
		return ""
	}
}

func unitsPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// checkedMul returns a*b, or outOfRange when it overflows.
func checkedMul(a, b int64) (int64, string) {
	c := a * b
	if a != 0 && (c/a != b || (a == -1 && b == math.MinInt64)) {
		return 0, outOfRange
	}
	return c, ""
}

// checkedAdd returns a+b, or outOfRange when it overflows.
func checkedAdd(a, b int64) (int64, string) {
	c := a + b
	if (b > 0 && c < a) || (b < 0 && c > a) {
		return 0, outOfRange
	}
	return c, ""
}

// trimSpark removes what Spark's UTF8String.trimAll removes around a string cast to a number,
// boolean, timestamp or date: ASCII white space and control characters.
func trimSpark(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// parseSparkInt parses a base-10 integer with an optional sign.
func parseSparkInt(str string) (int64, string) {
	s := trimSpark(str)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, notInteger
	}
	var v uint64
	big := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, notInteger
		}
		if v > (math.MaxUint64-9)/10 {
			big = true
			continue
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case big:
		return 0, outOfRange
	case neg && v <= 1<<63:
		return -int64(v), "" // -(1<<63) wraps to math.MinInt64
	case !neg && v <= math.MaxInt64:
		return int64(v), ""
	}
	return 0, outOfRange
}

// parseSparkFloat parses decimal or scientific notation, NaN or Infinity (or inf), with an
// optional sign, in any case.
func parseSparkFloat(str string, bits int) (float64, string) {
	s := trimSpark(str)
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "nan":
		return math.NaN(), ""
	case "inf", "infinity":
		if s[0] == '-' {
			return math.Inf(-1), ""
		}
		return math.Inf(1), ""
	}
	if !decimalSyntax(body) {
		return 0, notNumber
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil && !math.IsInf(f, 0) {
		return 0, outOfRange
	}
	return f, "" // beyond the type's range: ±Infinity, as Java's parseDouble (and Spark) give
}

// decimalSyntax reports whether s is digits, optionally with a decimal point, then optionally
// an exponent: "1", "1.", ".5", "1.5e-3".
func decimalSyntax(s string) bool {
	i, n := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		n++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		e := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == e {
			return false
		}
	}
	return i == len(s)
}

// parseSparkBool parses Spark's boolean strings.
func parseSparkBool(str string) (bool, string) {
	switch strings.ToLower(trimSpark(str)) {
	case "t", "true", "y", "yes", "1":
		return true, ""
	case "f", "false", "n", "no", "0":
		return false, ""
	}
	return false, notBoolean
}

// dateScanner reads a date or timestamp string.
type dateScanner struct {
	s string
	i int
}

func (p *dateScanner) done() bool { return p.i == len(p.s) }

// next consumes c if it comes next.
func (p *dateScanner) next(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads the digits that come next, which must be from min to max of them; max < 0 is no
// limit, and the value is then of the first 6 digits only, padded to 6 (a fraction of a second
// in microseconds).
func (p *dateScanner) digits(min, max int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		if max >= 0 || n < 6 {
			v = v*10 + int(p.s[p.i]-'0')
		}
		p.i++
		n++
	}
	if max < 0 {
		for k := n; k < 6; k++ {
			v *= 10
		}
	}
	return v, n >= min && (max < 0 || n <= max)
}

// date reads yyyy[-[m]m[-[d]d]] and returns the day since the epoch, and whether the day was
// given.
func (p *dateScanner) date() (days int64, withDay, ok bool) {
	y, ok := p.digits(4, 6)
	if !ok {
		return 0, false, false
	}
	m, d := 1, 1
	if p.next('-') {
		if m, ok = p.digits(1, 2); !ok {
			return 0, false, false
		}
		if p.next('-') {
			if d, ok = p.digits(1, 2); !ok {
				return 0, false, false
			}
			withDay = true
		}
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400, withDay, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseSparkDate parses yyyy, yyyy-[m]m, yyyy-[m]m-[d]d, or the last followed by ' ' or 'T' and
// anything (ignored).
func parseSparkDate(str string) (int32, string) {
	p := &dateScanner{s: trimSpark(str)}
	days, withDay, ok := p.date()
	if !ok || !(p.done() || withDay && (p.next(' ') || p.next('T'))) {
		return 0, notDate
	}
	if days < math.MinInt32 || days > math.MaxInt32 {
		return 0, outOfRange
	}
	return int32(days), ""
}

// parseSparkTimestamp parses yyyy, yyyy-[m]m, yyyy-[m]m-[d]d, or the last followed by ' ' or
// 'T', [h]h:[m]m[:[s]s[.fraction]] and an optional zone (after an optional space): Z, UTC, GMT
// or UT, [+-]hh[[:]mm], or UTC, GMT or UT followed by such an offset. The zone is UTC by
// default; the fraction is truncated to microseconds.
func parseSparkTimestamp(str string) (int64, string) {
	p := &dateScanner{s: trimSpark(str)}
	days, withDay, ok := p.date()
	if !ok {
		return 0, notTimestamp
	}
	secs := days * 86400
	var frac int64
	if !p.done() {
		if !withDay || !(p.next(' ') || p.next('T')) {
			return 0, notTimestamp
		}
		h, ok1 := p.digits(1, 2)
		colon := p.next(':')
		m, ok2 := p.digits(1, 2)
		if !ok1 || !colon || !ok2 || h > 23 || m > 59 {
			return 0, notTimestamp
		}
		sec := 0
		if p.next(':') {
			var ok3 bool
			if sec, ok3 = p.digits(1, 2); !ok3 || sec > 59 {
				return 0, notTimestamp
			}
			if p.next('.') {
				f, ok4 := p.digits(1, -1)
				if !ok4 {
					return 0, notTimestamp
				}
				frac = int64(f)
			}
		}
		off, ok := zoneOffset(p.s[p.i:])
		if !ok {
			return 0, notTimestamp
		}
		secs += int64(h*3600+m*60+sec) - off
	}
	us, problem := checkedMul(secs, 1e6)
	if problem != "" {
		return 0, problem
	}
	return checkedAdd(us, frac)
}

// zoneOffset returns the offset east of UTC, in seconds, of a timestamp's zone: "" (UTC), an
// optional space, then Z, UTC, GMT, UT, an offset [+-]h[h][[:]mm], or UTC, GMT or UT followed by
// an offset.
func zoneOffset(z string) (int64, bool) {
	if z == "" {
		return 0, true
	}
	z = strings.TrimPrefix(z, " ")
	if z == "Z" {
		return 0, true
	}
	for _, name := range []string{"UTC", "GMT", "UT"} {
		if rest, ok := strings.CutPrefix(z, name); ok {
			if rest == "" {
				return 0, true
			}
			z = rest
			break
		}
	}
	if z == "" || (z[0] != '+' && z[0] != '-') {
		return 0, false
	}
	p := &dateScanner{s: z, i: 1}
	var h, m int
	var ok bool
	start := p.i
	if h, ok = p.digits(1, 4); !ok {
		return 0, false
	}
	switch n := p.i - start; {
	case n == 4: // hhmm
		h, m = h/100, h%100
	case n == 3:
		return 0, false
	case p.next(':'):
		if m, ok = p.digits(2, 2); !ok {
			return 0, false
		}
	}
	if !p.done() || h > 18 || m > 59 || (h == 18 && m > 0) {
		return 0, false
	}
	off := int64(h*3600 + m*60)
	if z[0] == '-' {
		off = -off
	}
	return off, true
}
