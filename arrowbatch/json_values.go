package arrowbatch

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The JSONParser decodes values with arrow-go's builders, but the values of most types its own
// way, through private extension types that stand in for them while parsing (their builders are
// arrow's, with UnmarshalOne replaced) and are swapped back for the schema's types afterwards,
// without copying:
//
//   - integers, floats and booleans: a JSON value of the column's kind only (scalarSlot), with
//     an error naming the column and the value; a float out of range is ±Infinity;
//   - structs and lists: a JSON object or array only, with an error naming the column
//     otherwise; a struct's key twice is an error that the parser turns into keeping the last
//     value (json_dedup.go);
//   - any other type: arrow-go's decoding, with its errors prefixed by the column's name;
//
//   - timestamps: an RFC 3339 string with any number of fraction digits, truncated to the
//     column's unit, as Spark does (arrow-go refuses more digits than the unit holds), and a
//     bad value is an error naming the column and the value;
//   - strings: any JSON value, a non-string one as its compact JSON text, as Spark does (so a
//     field inferred as a string because its values disagree takes them all).

// jsonColumn is the extension type that stands in for a column while parsing (maps:
// json_map.go).
type jsonColumn struct {
	arrow.ExtensionBase
	path string // the column's name, with its parents: "geo.at", "events[].at"
}

func (t *jsonColumn) ArrayType() reflect.Type { return reflect.TypeOf(jsonColumnArray{}) }

func (t *jsonColumn) ExtensionName() string { return "sluice.json." + t.Storage.Name() }

func (t *jsonColumn) Serialize() string { return t.path }

func (t *jsonColumn) Deserialize(storage arrow.DataType, data string) (arrow.ExtensionType, error) {
	return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: storage}, path: data}, nil
}

func (t *jsonColumn) ExtensionEquals(o arrow.ExtensionType) bool {
	other, ok := o.(*jsonColumn)
	return ok && other.path == t.path && arrow.TypeEqual(t.Storage, other.Storage)
}

func (t *jsonColumn) String() string { return "json<" + t.Storage.String() + ">" }

// NewBuilder implements array.CustomExtensionBuilder.
func (t *jsonColumn) NewBuilder(mem memory.Allocator) array.Builder {
	b := &jsonColumnBuilder{ExtensionBuilder: array.NewExtensionBuilder(mem, t), path: t.path}
	switch st := t.Storage.(type) {
	case *arrow.TimestampType:
		b.ts = b.StorageBuilder().(*array.TimestampBuilder)
		b.unit = st.Unit
		loc, err := st.GetZone()
		if err != nil || loc == nil {
			loc = time.UTC // NewJSONParser checked the zone
		}
		b.loc = loc
	case *arrow.StringType:
		str := b.StorageBuilder().(*array.StringBuilder)
		b.str = str.Append
	case *arrow.LargeStringType:
		str := b.StorageBuilder().(*array.LargeStringBuilder)
		b.str = str.Append
	case *arrow.MapType:
		b.m = newMapBuilder(b.StorageBuilder().(*array.MapBuilder))
	case *arrow.StructType:
		b.st = b.StorageBuilder().(*array.StructBuilder)
		b.fieldIdx = make(map[string]int, st.NumFields())
		for i, f := range st.Fields() {
			b.fieldIdx[f.Name] = i
		}
		b.seen = make([]bool, st.NumFields())
	case *arrow.ListType, *arrow.LargeListType:
		b.list = b.StorageBuilder().(listBuilder)
	default:
		if c, ok := scalarColumn(st); ok && c.kind != fastString {
			b.kind = c // b.scalar is set on first use: the fast path may decode every value
		} else {
			b.other = true
		}
	}
	return b
}

// listBuilder is a list or large list builder.
type listBuilder interface {
	Append(bool)
	ValueBuilder() array.Builder
}

type jsonColumnArray struct{ array.ExtensionArrayBase }

// jsonColumnBuilder appends JSON values to a timestamp or string column.
type jsonColumnBuilder struct {
	*array.ExtensionBuilder
	path string
	// timestamps
	ts   *array.TimestampBuilder
	unit arrow.TimeUnit
	loc  *time.Location
	// strings
	str func(string)
	// maps (json_map.go)
	m *mapBuilder
	// integers, floats and booleans: the kind, and the appender (once used)
	kind   fastColumn
	scalar func(*slot, []byte)
	// structs: the index of each field, and which ones the object being decoded has
	st       *array.StructBuilder
	fieldIdx map[string]int
	seen     []bool
	// lists
	list listBuilder
	// other types: arrow-go's own decoding
	other bool
}

var (
	_ array.CustomExtensionBuilder = (*jsonColumn)(nil)
	_ array.Builder                = (*jsonColumnBuilder)(nil)
)

// UnmarshalOne appends the next JSON value.
func (b *jsonColumnBuilder) UnmarshalOne(dec *jsonDecoder) error {
	if b.other {
		return namedError(b.StorageBuilder().UnmarshalOne(dec), b.path)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		b.AppendNull()
		return nil
	}
	switch {
	case b.ts != nil:
		return b.timestamp(tok)
	case b.m != nil:
		return b.m.decode(dec, tok, b.path)
	case b.kind.kind != 0:
		if b.scalar == nil {
			b.scalar = (&fastDecoder{}).appender(b.StorageBuilder())
		}
		var s slot
		if err := scalarSlot(&s, tok, b.kind); err != nil {
			return fmt.Errorf("json: column %q: %w", b.path, err)
		}
		b.scalar(&s, nil)
		return nil
	case b.st != nil:
		return b.object(dec, tok)
	case b.list != nil:
		return b.array(dec, tok)
	}
	switch v := tok.(type) {
	case string:
		b.str(v)
	case jsonNumber:
		b.str(v.String())
	case float64:
		b.str(strconv.FormatFloat(v, 'g', -1, 64))
	case bool:
		b.str(strconv.FormatBool(v))
	case jsonDelim:
		text, err := compactRest(dec, rune(v))
		if err != nil {
			return err
		}
		b.str(text)
	default:
		return fmt.Errorf("json: column %q: unexpected token %v", b.path, tok)
	}
	return nil
}

// object appends the struct whose first token, tok, was just read.
func (b *jsonColumnBuilder) object(dec *jsonDecoder, tok any) error {
	if d, ok := tok.(jsonDelim); !ok || d != '{' {
		return fmt.Errorf("json: column %q: want a JSON object, got %s", b.path, describeToken(tok))
	}
	b.st.Append(true)
	clear(b.seen)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		i, ok := b.fieldIdx[key]
		if !ok {
			var extra any
			if err := dec.Decode(&extra); err != nil {
				return err
			}
			continue
		}
		if b.seen[i] {
			return fmt.Errorf("json: column %q: the key %q shows up twice", b.path, key)
		}
		b.seen[i] = true
		if err := unmarshalChild(b.st.FieldBuilder(i), dec, b.path+"."+key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	for i, seen := range b.seen {
		if !seen {
			b.st.FieldBuilder(i).AppendNull()
		}
	}
	return nil
}

// array appends the list whose first token, tok, was just read.
func (b *jsonColumnBuilder) array(dec *jsonDecoder, tok any) error {
	if d, ok := tok.(jsonDelim); !ok || d != '[' {
		return fmt.Errorf("json: column %q: want a JSON array, got %s", b.path, describeToken(tok))
	}
	b.list.Append(true)
	vb := b.list.ValueBuilder()
	for dec.More() {
		if err := unmarshalChild(vb, dec, b.path+"[]"); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	return err
}

// unmarshalChild appends the next value to fb, a builder of the value at path.
func unmarshalChild(fb array.Builder, dec *jsonDecoder, path string) error {
	if jb, ok := fb.(*jsonColumnBuilder); ok {
		old := jb.path
		jb.path = path
		err := jb.UnmarshalOne(dec)
		jb.path = old
		return err
	}
	return namedError(fb.UnmarshalOne(dec), path)
}

// namedError names the column at path in err, unless it names one already.
func namedError(err error, path string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, `column "`) {
		return err
	}
	return fmt.Errorf("json: column %q: %s", path, strings.TrimPrefix(msg, "json: "))
}

// Unmarshal appends the values of a JSON array's elements up to its end.
func (b *jsonColumnBuilder) Unmarshal(dec *jsonDecoder) error {
	for dec.More() {
		if err := b.UnmarshalOne(dec); err != nil {
			return err
		}
	}
	return nil
}

func (b *jsonColumnBuilder) timestamp(tok any) error {
	bad := func(value string, why string) error {
		return fmt.Errorf("json: column %q: %s is not a valid timestamp: %s", b.path, value, why)
	}
	switch v := tok.(type) {
	case string:
		ts, err := ParseTimestamp(v, b.unit, b.loc)
		if err != nil {
			return bad(strconv.Quote(v), err.Error())
		}
		b.ts.Append(ts)
	case jsonNumber:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return bad(v.String(), "a number must be an integer count of "+unitName(b.unit)+" since 1970")
		}
		b.ts.Append(arrow.Timestamp(n))
	case float64:
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return bad(strconv.FormatFloat(v, 'g', -1, 64), "a number must be an integer count of "+unitName(b.unit)+" since 1970")
		}
		b.ts.Append(arrow.Timestamp(v))
	case bool:
		return bad(strconv.FormatBool(v), "want a string or a number")
	case jsonDelim:
		what := "an object"
		if v == '[' {
			what = "an array"
		}
		return bad(what, "want a string or a number")
	default:
		return bad(fmt.Sprint(v), "want a string or a number")
	}
	return nil
}

func unitName(u arrow.TimeUnit) string {
	switch u {
	case arrow.Second:
		return "seconds"
	case arrow.Millisecond:
		return "milliseconds"
	case arrow.Microsecond:
		return "microseconds"
	}
	return "nanoseconds"
}

// compactRest reads the rest of the object or array whose opening delimiter open was just read
// and returns it as compact JSON. It keeps no recursion: documents come from outside.
func compactRest(dec *jsonDecoder, open rune) (string, error) {
	var sb strings.Builder
	sb.WriteRune(open)
	type level struct {
		object bool
		n      int // values (or keys) written at this level
	}
	stack := []level{{object: open == '{'}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if !dec.More() {
			tok, err := dec.Token() // the closing delimiter
			if err != nil {
				return "", err
			}
			d, _ := tok.(jsonDelim)
			sb.WriteRune(rune(d))
			stack = stack[:len(stack)-1]
			continue
		}
		if top.n > 0 {
			sb.WriteByte(',')
		}
		top.n++
		if top.object {
			tok, err := dec.Token()
			if err != nil {
				return "", err
			}
			key, _ := tok.(string)
			writeJSONString(&sb, key)
			sb.WriteByte(':')
		}
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch v := tok.(type) {
		case nil:
			sb.WriteString("null")
		case string:
			writeJSONString(&sb, v)
		case jsonNumber:
			sb.WriteString(v.String())
		case float64:
			sb.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		case bool:
			sb.WriteString(strconv.FormatBool(v))
		case jsonDelim:
			sb.WriteRune(rune(v))
			stack = append(stack, level{object: v == '{'})
		}
	}
	return sb.String(), nil
}

// writeJSONString writes s as a JSON string.
func writeJSONString(sb *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c < 0x20:
			sb.WriteString(`\u00`)
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&0xf])
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			sb.WriteRune(r) // invalid UTF-8 becomes U+FFFD
			i += size
			continue
		}
		i++
	}
	sb.WriteByte('"')
}

// ParseTimestamp parses s as a timestamp in unit: an integer count of units since 1970
// (optionally signed), or a date and time
//
//	YYYY-MM-DD[(T|t| )HH[:MM[:SS[(.|,)fraction]]]][Z|z|±HH|±HHMM|±HH:MM|±HHMMSS|±HH:MM:SS]
//
// which covers RFC 3339 and the forms arrow-go reads. The fraction may have any number of
// digits; the time is truncated to unit (toward the past), as Spark does. A time without a
// zone is read in loc (nil means UTC).
func ParseTimestamp(s string, unit arrow.TimeUnit, loc *time.Location) (arrow.Timestamp, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return arrow.Timestamp(n), nil
	}
	t, err := parseDateTime(s, loc)
	if err != nil {
		return 0, err
	}
	return timestampOf(t, unit)
}

var errTimestampForm = errors.New("want RFC 3339, such as 2024-05-01T12:30:00.123456789Z, or an integer")

// parseDateTime parses the date-time form of ParseTimestamp.
func parseDateTime(s string, loc *time.Location) (time.Time, error) {
	num := func(i, n int) (int, bool) {
		if i < 0 || i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, errTimestampForm
	}
	i := 10
	var hour, minute, sec, nsec int
	if i < len(s) && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') {
		var ok bool
		if hour, ok = num(i+1, 2); !ok {
			return time.Time{}, errTimestampForm
		}
		i += 3
		if i < len(s) && s[i] == ':' {
			if minute, ok = num(i+1, 2); !ok {
				return time.Time{}, errTimestampForm
			}
			i += 3
			if i < len(s) && s[i] == ':' {
				if sec, ok = num(i+1, 2); !ok {
					return time.Time{}, errTimestampForm
				}
				i += 3
				if i < len(s) && (s[i] == '.' || s[i] == ',') {
					i++
					start := i
					for i < len(s) && s[i] >= '0' && s[i] <= '9' {
						if i-start < 9 {
							nsec = nsec*10 + int(s[i]-'0')
						}
						i++
					}
					if i == start {
						return time.Time{}, errors.New("no digits after the decimal point")
					}
					for d := i - start; d < 9; d++ {
						nsec *= 10
					}
				}
			}
		}
	}
	zone := loc
	if zone == nil {
		zone = time.UTC
	}
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			zone = time.UTC
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			i++
			hh, ok := num(i, 2)
			if !ok {
				return time.Time{}, errors.New("bad zone offset")
			}
			i += 2
			parts := []int{hh}
			for len(parts) < 3 && i < len(s) {
				if s[i] == ':' {
					i++
				}
				v, ok := num(i, 2)
				if !ok {
					return time.Time{}, errors.New("bad zone offset")
				}
				parts = append(parts, v)
				i += 2
			}
			for len(parts) < 3 {
				parts = append(parts, 0)
			}
			if parts[0] > 23 || parts[1] > 59 || parts[2] > 59 {
				return time.Time{}, errors.New("zone offset out of range")
			}
			zone = time.FixedZone("", sign*(parts[0]*3600+parts[1]*60+parts[2]))
		}
	}
	if i != len(s) {
		return time.Time{}, errTimestampForm
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, errors.New("month out of range")
	case hour > 23:
		return time.Time{}, errors.New("hour out of range")
	case minute > 59:
		return time.Time{}, errors.New("minute out of range")
	case sec > 59:
		return time.Time{}, errors.New("second out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone)
	if day < 1 || t.Day() != day {
		return time.Time{}, errors.New("day out of range")
	}
	return t, nil
}

// timestampOf converts t to a count of units since 1970, truncating toward the past.
func timestampOf(t time.Time, unit arrow.TimeUnit) (arrow.Timestamp, error) {
	var mult, div int64
	switch unit {
	case arrow.Second:
		mult, div = 1, 1e9
	case arrow.Millisecond:
		mult, div = 1e3, 1e6
	case arrow.Microsecond:
		mult, div = 1e6, 1e3
	default:
		mult, div = 1e9, 1
	}
	secs, frac := t.Unix(), int64(t.Nanosecond())/div
	if secs > (math.MaxInt64-frac)/mult || secs < math.MinInt64/mult {
		return 0, fmt.Errorf("out of range for timestamp[%s]", unit)
	}
	return arrow.Timestamp(secs*mult + frac), nil
}

// parseTypes returns the type the parser builds for a column of type t: t with its types, also
// inside structs, lists and maps, replaced by jsonColumn types (but for extension types and
// fixed-size lists). changed is false when t has none. A map whose keys are not strings is an error.
func parseTypes(t arrow.DataType, path string) (out arrow.DataType, changed bool, err error) {
	switch tt := t.(type) {
	case *arrow.TimestampType:
		if _, err := tt.GetZone(); err != nil {
			return nil, false, fmt.Errorf("arrowbatch: column %q: time zone %q: %w", path, tt.TimeZone, err)
		}
		return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: t}, path: path}, true, nil
	case *arrow.StringType, *arrow.LargeStringType:
		return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: t}, path: path}, true, nil
	case *arrow.MapType:
		mt, err := parseMapType(tt, path)
		if err != nil {
			return nil, false, err
		}
		return mt, true, nil
	case *arrow.StructType:
		fields := tt.Fields()
		for i, f := range fields {
			ft, _, err := parseTypes(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, false, err
			}
			fields[i].Type = ft
		}
		return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: arrow.StructOf(fields...)}, path: path}, true, nil
	case *arrow.ListType:
		f := tt.ElemField()
		ft, _, err := parseTypes(f.Type, path+"[]")
		if err != nil {
			return nil, false, err
		}
		f.Type = ft
		return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: arrow.ListOfField(f)}, path: path}, true, nil
	case *arrow.LargeListType:
		f := tt.ElemField()
		ft, _, err := parseTypes(f.Type, path+"[]")
		if err != nil {
			return nil, false, err
		}
		f.Type = ft
		return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: arrow.LargeListOfField(f)}, path: path}, true, nil
	case *arrow.FixedSizeListType:
		f := tt.ElemField()
		ft, ch, err := parseTypes(f.Type, path+"[]")
		if err != nil || !ch {
			return t, false, err
		}
		f.Type = ft
		return arrow.FixedSizeListOfField(tt.Len(), f), true, nil
	case arrow.ExtensionType:
		return t, false, nil
	}
	return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: t}, path: path}, true, nil
}

// retype returns d's buffers and children as an array of type t, the type d stands in for
// (see parseTypes). It holds its own reference to the buffers.
func retype(d arrow.ArrayData, t arrow.DataType) arrow.ArrayData {
	var fields []arrow.Field
	if n, ok := t.(arrow.NestedType); ok {
		fields = n.Fields()
	}
	kids := d.Children()
	children := make([]arrow.ArrayData, len(kids))
	for i, c := range kids {
		if i < len(fields) {
			children[i] = retype(c, fields[i].Type)
		} else {
			c.Retain()
			children[i] = c
		}
	}
	out := array.NewData(t, d.Len(), d.Buffers(), children, d.NullN(), d.Offset())
	for _, c := range children {
		c.Release()
	}
	return out
}
