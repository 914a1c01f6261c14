package operators

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The group key of an aggregation is encoded as bytes: the key columns' values one after the
// other, each a type tag and its payload. The encoding is
//
//   - unambiguous: every value is self-delimiting, so distinct key tuples have distinct bytes;
//   - self-describing: a tag is the Arrow type ID of the value (0 for a null of any type), so
//     the key can be walked without its schema and checked against it;
//   - order-preserving: bytes.Compare of two keys of one schema orders them by their values,
//     column by column, nulls first (Spark's ascending order), so output sorted by encoded key
//     is sorted by key.
//
// Payloads:
//
//	null                          tag 0, nothing
//	bool                          1 byte, 0 or 1
//	int8..int64, date32, date64   8 bytes big-endian, sign bit flipped
//	timestamp, duration           1 byte time unit, then 8 bytes as for ints
//	uint8..uint64                 8 bytes big-endian
//	float32, float64              8 bytes big-endian: the float64 bits, negatives inverted and
//	                              positives with the sign bit set; -0 is stored as 0 and every
//	                              NaN as one NaN, so they group together as in Spark
//	string, binary (and large)    the bytes with 0x00 written 0x00 0xFF, then 0x00 0x01
//	struct                        uvarint number of fields, then each field's tag and payload
const aggTagNull = 0

// aggKeyEncoder appends the encoding of row i of a key column to buf.
type aggKeyEncoder func(buf []byte, i int) []byte

// aggKeyDecoder appends the value at the start of data to b and returns the rest of data.
type aggKeyDecoder func(b array.Builder, data []byte) ([]byte, error)

// errAggBadKey reports an encoded key that does not match the aggregation's schema: state written
// by a different query, or corrupt.
var errAggBadKey = errors.New("the state's key does not match the aggregation's key columns (was the query changed since the checkpoint was written? a changed aggregation needs a new checkpointLocation)")

// aggKeyType reports why values of dt cannot be group keys, or nil.
func aggKeyType(dt arrow.DataType) error {
	switch dt.ID() {
	case arrow.NULL, arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.DURATION:
		return nil
	case arrow.STRUCT:
		for _, f := range dt.(*arrow.StructType).Fields() {
			if err := aggKeyType(f.Type); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("cannot group by values of type %s (supported: bool, integers, floats, string, binary, timestamp, date, duration and structs of them)", dt)
}

func aggPutInt(buf []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(buf, uint64(v)^(1<<63))
}

// aggFloatBits returns the bits of f, normalised (-0 to 0, one NaN) and transformed so that
// their unsigned order is the order of the floats.
func aggFloatBits(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	bits := math.Float64bits(f)
	if f != f {
		bits = 0x7ff8000000000000
	}
	if bits>>63 == 1 {
		return ^bits
	}
	return bits | 1<<63
}

func aggFloatFromBits(bits uint64) float64 {
	if bits>>63 == 1 {
		return math.Float64frombits(bits &^ (1 << 63))
	}
	return math.Float64frombits(^bits)
}

// aggAppendEscaped appends v escaped and terminated (see the encoding above).
func aggAppendEscaped(buf, v []byte) []byte {
	if bytes.IndexByte(v, 0) < 0 {
		buf = append(buf, v...)
	} else {
		for _, c := range v {
			if c == 0 {
				buf = append(buf, 0, 0xFF)
			} else {
				buf = append(buf, c)
			}
		}
	}
	return append(buf, 0, 1)
}

// aggReadEscaped returns the bytes escaped at the start of data, and the rest. The bytes alias
// data unless they held an escaped 0x00, in which case they are unescaped into scratch.
func aggReadEscaped(data, scratch []byte) (val, rest []byte, err error) {
	end := bytes.IndexByte(data, 0)
	if end < 0 || end+1 >= len(data) {
		return nil, nil, errAggBadKey
	}
	if data[end+1] == 1 {
		return data[:end], data[end+2:], nil
	}
	out := scratch[:0]
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != 0 {
			out = append(out, c)
			continue
		}
		if i+1 >= len(data) {
			break
		}
		switch data[i+1] {
		case 0xFF:
			out = append(out, 0)
			i++
		case 1:
			return out, data[i+2:], nil
		default:
			return nil, nil, errAggBadKey
		}
	}
	return nil, nil, errAggBadKey
}

// aggBytes returns the bytes of s without copying; the caller must not change them.
func aggBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// newAggKeyEncoder returns the encoder of the key column arr (of a type aggKeyType
// accepts).
func newAggKeyEncoder(arr arrow.Array) (aggKeyEncoder, error) {
	tag := byte(arr.DataType().ID())
	nulls := arr.NullN() > 0
	withNulls := func(enc aggKeyEncoder) aggKeyEncoder {
		if !nulls {
			return enc
		}
		return func(buf []byte, i int) []byte {
			if arr.IsNull(i) {
				return append(buf, aggTagNull)
			}
			return enc(buf, i)
		}
	}
	ints := func(vals func(i int) int64) aggKeyEncoder {
		return withNulls(func(buf []byte, i int) []byte { return aggPutInt(append(buf, tag), vals(i)) })
	}
	unitInts := func(unit arrow.TimeUnit, vals func(i int) int64) aggKeyEncoder {
		return withNulls(func(buf []byte, i int) []byte { return aggPutInt(append(buf, tag, byte(unit)), vals(i)) })
	}
	uints := func(vals func(i int) uint64) aggKeyEncoder {
		return withNulls(func(buf []byte, i int) []byte { return binary.BigEndian.AppendUint64(append(buf, tag), vals(i)) })
	}
	floats := func(vals func(i int) float64) aggKeyEncoder {
		return withNulls(func(buf []byte, i int) []byte {
			return binary.BigEndian.AppendUint64(append(buf, tag), aggFloatBits(vals(i)))
		})
	}
	bins := func(vals func(i int) []byte) aggKeyEncoder {
		return withNulls(func(buf []byte, i int) []byte { return aggAppendEscaped(append(buf, tag), vals(i)) })
	}
	switch a := arr.(type) {
	case *array.Null:
		return func(buf []byte, _ int) []byte { return append(buf, aggTagNull) }, nil
	case *array.Boolean:
		return withNulls(func(buf []byte, i int) []byte {
			if a.Value(i) {
				return append(buf, tag, 1)
			}
			return append(buf, tag, 0)
		}), nil
	case *array.Int8:
		return ints(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int16:
		return ints(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int32:
		return ints(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int64:
		return ints(func(i int) int64 { return a.Value(i) }), nil
	case *array.Date32:
		return ints(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Date64:
		return ints(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Timestamp:
		return unitInts(a.DataType().(*arrow.TimestampType).Unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Duration:
		return unitInts(a.DataType().(*arrow.DurationType).Unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Uint8:
		return uints(func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint16:
		return uints(func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint32:
		return uints(func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint64:
		return uints(a.Value), nil
	case *array.Float32:
		return floats(func(i int) float64 { return float64(a.Value(i)) }), nil
	case *array.Float64:
		return floats(a.Value), nil
	case *array.String:
		return bins(func(i int) []byte { return aggBytes(a.Value(i)) }), nil
	case *array.LargeString:
		return bins(func(i int) []byte { return aggBytes(a.Value(i)) }), nil
	case *array.Binary:
		return bins(a.Value), nil
	case *array.LargeBinary:
		return bins(a.Value), nil
	case *array.Struct:
		fields := make([]aggKeyEncoder, a.NumField())
		for f := range fields {
			enc, err := newAggKeyEncoder(a.Field(f))
			if err != nil {
				return nil, err
			}
			fields[f] = enc
		}
		return withNulls(func(buf []byte, i int) []byte {
			buf = binary.AppendUvarint(append(buf, tag), uint64(len(fields)))
			for _, enc := range fields {
				buf = enc(buf, i)
			}
			return buf
		}), nil
	}
	return nil, aggKeyType(arr.DataType())
}

// aggSkipKey returns data after the value at its start, reading only the tags.
func aggSkipKey(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errAggBadKey
	}
	tag, data := arrow.Type(data[0]), data[1:]
	n := 0
	switch tag {
	case aggTagNull:
		return data, nil
	case arrow.BOOL:
		n = 1
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.DATE64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64:
		n = 8
	case arrow.TIMESTAMP, arrow.DURATION:
		n = 9
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		_, rest, err := aggReadEscaped(data, nil)
		return rest, err
	case arrow.STRUCT:
		nf, k := binary.Uvarint(data)
		if k <= 0 {
			return nil, errAggBadKey
		}
		data = data[k:]
		for range nf {
			var err error
			if data, err = aggSkipKey(data); err != nil {
				return nil, err
			}
		}
		return data, nil
	default:
		return nil, errAggBadKey
	}
	if len(data) < n {
		return nil, errAggBadKey
	}
	return data[n:], nil
}

// newAggKeyDecoder returns the decoder of key values of type dt into builders of that type.
func newAggKeyDecoder(dt arrow.DataType) (aggKeyDecoder, error) {
	if err := aggKeyType(dt); err != nil {
		return nil, err
	}
	tag := byte(dt.ID())
	var unit byte
	switch t := dt.(type) {
	case *arrow.TimestampType:
		unit = byte(t.Unit)
	case *arrow.DurationType:
		unit = byte(t.Unit)
	}
	var fields []aggKeyDecoder
	if st, ok := dt.(*arrow.StructType); ok {
		for _, f := range st.Fields() {
			dec, err := newAggKeyDecoder(f.Type)
			if err != nil {
				return nil, err
			}
			fields = append(fields, dec)
		}
	}
	return func(b array.Builder, data []byte) ([]byte, error) {
		if len(data) == 0 {
			return nil, errAggBadKey
		}
		if data[0] == aggTagNull {
			b.AppendNull()
			return data[1:], nil
		}
		if data[0] != tag {
			return nil, fmt.Errorf("%w: a value of type %s where %s is expected", errAggBadKey, arrow.Type(data[0]), dt)
		}
		data = data[1:]
		switch dt.ID() {
		case arrow.BOOL:
			if len(data) < 1 {
				return nil, errAggBadKey
			}
			b.(*array.BooleanBuilder).Append(data[0] != 0)
			return data[1:], nil
		case arrow.TIMESTAMP, arrow.DURATION:
			if len(data) < 9 || data[0] != unit {
				return nil, fmt.Errorf("%w: a %s of another time unit", errAggBadKey, dt)
			}
			aggAppendInt(b, int64(binary.BigEndian.Uint64(data[1:])^(1<<63)))
			return data[9:], nil
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.DATE64:
			if len(data) < 8 {
				return nil, errAggBadKey
			}
			aggAppendInt(b, int64(binary.BigEndian.Uint64(data)^(1<<63)))
			return data[8:], nil
		case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
			if len(data) < 8 {
				return nil, errAggBadKey
			}
			aggAppendUint(b, binary.BigEndian.Uint64(data))
			return data[8:], nil
		case arrow.FLOAT32, arrow.FLOAT64:
			if len(data) < 8 {
				return nil, errAggBadKey
			}
			aggAppendFloat(b, aggFloatFromBits(binary.BigEndian.Uint64(data)))
			return data[8:], nil
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			v, rest, err := aggReadEscaped(data, nil)
			if err != nil {
				return nil, err
			}
			aggAppendBytes(b, v)
			return rest, nil
		case arrow.STRUCT:
			nf, k := binary.Uvarint(data)
			if k <= 0 || nf != uint64(len(fields)) {
				return nil, fmt.Errorf("%w: a struct of another number of fields", errAggBadKey)
			}
			data = data[k:]
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			for f, dec := range fields {
				var err error
				if data, err = dec(sb.FieldBuilder(f), data); err != nil {
					return nil, err
				}
			}
			return data, nil
		}
		return nil, errAggBadKey
	}, nil
}

// aggEventTimeOfKey returns the raw event-time value of an encoded key (see aggEventTime), and
// false when it is null.
func aggEventTimeOfKey(key []byte, et *aggEventTime) (int64, bool, error) {
	data := key
	var err error
	for range et.key {
		if data, err = aggSkipKey(data); err != nil {
			return 0, false, err
		}
	}
	if len(data) == 0 {
		return 0, false, errAggBadKey
	}
	if et.child >= 0 {
		if data[0] == aggTagNull {
			return 0, false, nil
		}
		if data[0] != byte(arrow.STRUCT) {
			return 0, false, errAggBadKey
		}
		nf, k := binary.Uvarint(data[1:])
		if k <= 0 || uint64(et.child) >= nf {
			return 0, false, errAggBadKey
		}
		data = data[1+k:]
		for range et.child {
			if data, err = aggSkipKey(data); err != nil {
				return 0, false, err
			}
		}
	}
	if len(data) == 0 {
		return 0, false, errAggBadKey
	}
	if data[0] == aggTagNull {
		return 0, false, nil
	}
	if data[0] != byte(arrow.TIMESTAMP) || len(data) < 10 {
		return 0, false, errAggBadKey
	}
	return int64(binary.BigEndian.Uint64(data[2:]) ^ (1 << 63)), true, nil
}

// aggAppendInt appends v to a builder of a type stored as a signed integer (bool as 0/1).
func aggAppendInt(b array.Builder, v int64) {
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(v)
	case *array.Int32Builder:
		b.Append(int32(v))
	case *array.Int16Builder:
		b.Append(int16(v))
	case *array.Int8Builder:
		b.Append(int8(v))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v))
	case *array.Date32Builder:
		b.Append(arrow.Date32(v))
	case *array.Date64Builder:
		b.Append(arrow.Date64(v))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(v))
	case *array.BooleanBuilder:
		b.Append(v != 0)
	default:
		panic(fmt.Sprintf("operators: internal error: an integer into a %T", b))
	}
}

func aggAppendUint(b array.Builder, v uint64) {
	switch b := b.(type) {
	case *array.Uint64Builder:
		b.Append(v)
	case *array.Uint32Builder:
		b.Append(uint32(v))
	case *array.Uint16Builder:
		b.Append(uint16(v))
	case *array.Uint8Builder:
		b.Append(uint8(v))
	default:
		panic(fmt.Sprintf("operators: internal error: an unsigned integer into a %T", b))
	}
}

func aggAppendFloat(b array.Builder, v float64) {
	switch b := b.(type) {
	case *array.Float64Builder:
		b.Append(v)
	case *array.Float32Builder:
		b.Append(float32(v))
	default:
		panic(fmt.Sprintf("operators: internal error: a float into a %T", b))
	}
}

func aggAppendBytes(b array.Builder, v []byte) {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.BinaryBuilder.Append(v)
	case *array.LargeStringBuilder:
		b.BinaryBuilder.Append(v)
	case *array.BinaryBuilder:
		b.Append(v)
	default:
		panic(fmt.Sprintf("operators: internal error: bytes into a %T", b))
	}
}
