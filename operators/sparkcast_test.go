package operators_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/operators"
)

// castColumnOf builds a column of type typ: nil is null; ints are given as int (timestamps and
// dates as their raw value), uint64 as uint64, floating values as float64.
func castColumnOf(t *testing.T, mem memory.Allocator, typ arrow.DataType, vals []any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch tb := b.(type) {
		case *array.StringBuilder:
			tb.Append(v.(string))
		case *array.LargeStringBuilder:
			tb.Append(v.(string))
		case *array.BooleanBuilder:
			tb.Append(v.(bool))
		case *array.Int8Builder:
			tb.Append(int8(v.(int)))
		case *array.Int16Builder:
			tb.Append(int16(v.(int)))
		case *array.Int32Builder:
			tb.Append(int32(v.(int)))
		case *array.Int64Builder:
			tb.Append(int64(v.(int)))
		case *array.Uint64Builder:
			tb.Append(v.(uint64))
		case *array.Float32Builder:
			tb.Append(float32(v.(float64)))
		case *array.Float64Builder:
			tb.Append(v.(float64))
		case *array.TimestampBuilder:
			tb.Append(arrow.Timestamp(v.(int)))
		case *array.Date32Builder:
			tb.Append(arrow.Date32(v.(int)))
		default:
			t.Fatalf("no builder for %s", typ)
		}
	}
	return b.NewArray()
}

// renderCast renders value i of a cast's result: timestamps as "2006-01-02 15:04:05.999999"
// in UTC, dates as "2006-01-02", the rest as the console prints them.
func renderCast(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch c := a.(type) {
	case *array.Timestamp:
		return time.UnixMicro(int64(c.Value(i))).UTC().Format("2006-01-02 15:04:05.999999")
	case *array.Date32:
		return time.Unix(int64(c.Value(i))*86400, 0).UTC().Format("2006-01-02")
	}
	return arrowbatch.FormatValue(a, i)
}

var (
	tsSec  = &arrow.TimestampType{Unit: arrow.Second}
	tsMs   = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	tsUs   = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tsUsNY = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}
	tsUsNo = &arrow.TimestampType{Unit: arrow.Microsecond}
	tsNs   = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Paris"}
)

// TestSparkCast: each row's want is the value, or "!" and the message after "cast c to typ: ".
func TestSparkCast(t *testing.T) {
	str := arrow.BinaryTypes.String
	tests := []struct {
		name string
		from arrow.DataType
		to   string
		in   []any
		want []string
	}{
		{"string to int", str, "int",
			[]any{"12", " 12 ", "\t-7\n", "+5", "010", "0x10", "0b11", "1_000", "1.5", "", "abc", "3000000000", "-2147483648", "2147483647", nil, "- 1"},
			[]string{"12", "12", "-7", "5", "10", `!"0x10" is not a base-10 integer`, `!"0b11" is not a base-10 integer`,
				`!"1_000" is not a base-10 integer`, `!"1.5" is not a base-10 integer`, `!"" is not a base-10 integer`,
				`!"abc" is not a base-10 integer`, `!"3000000000" is out of range`, "-2147483648", "2147483647", "NULL",
				`!"- 1" is not a base-10 integer`}},
		{"string to bigint", str, "bigint",
			[]any{"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "99999999999999999999999", "0"},
			[]string{"9223372036854775807", "-9223372036854775808", `!"9223372036854775808" is out of range`,
				`!"-9223372036854775809" is out of range`, `!"99999999999999999999999" is out of range`, "0"}},
		{"string to tinyint", str, "tinyint", []any{"127", "128", "-128", "-129"},
			[]string{"127", `!"128" is out of range`, "-128", `!"-129" is out of range`}},
		{"string to smallint", str, "smallint", []any{"32767", "32768"}, []string{"32767", `!"32768" is out of range`}},
		{"large string to int", arrow.BinaryTypes.LargeString, "int", []any{" 42", "0x2A", nil},
			[]string{"42", `!"0x2A" is not a base-10 integer`, "NULL"}},
		{"string to double", str, "double",
			[]any{"1.5", " 2 ", "1e3", "-1.5E-3", ".5", "5.", "NaN", "nan", "-Infinity", "+inf", "INF", "-NaN",
				"0x1p3", "1_0", "1e400", "abc", "", "1e", ".", "Infinityx", nil},
			[]string{"1.5", "2.0", "1000.0", "-0.0015", "0.5", "5.0", "NaN", "NaN", "-Infinity", "Infinity", "Infinity", "NaN",
				`!"0x1p3" is not a number`, `!"1_0" is not a number`, "Infinity", `!"abc" is not a number`,
				`!"" is not a number`, `!"1e" is not a number`, `!"." is not a number`, `!"Infinityx" is not a number`, "NULL"}},
		{"string to float", str, "float", []any{"1.5", "3.4e38", "1e39", "-inf"},
			[]string{"1.5", "3.4E38", "Infinity", "-Infinity"}}, // beyond the range: Infinity, as Java's parseFloat
		{"string to boolean", str, "boolean",
			[]any{"t", "TRUE", " yes ", "Y", "1", "f", "False", "n", "NO", "0", "maybe", "2", "", nil},
			[]string{"true", "true", "true", "true", "true", "false", "false", "false", "false", "false",
				`!"maybe" is not a boolean`, `!"2" is not a boolean`, `!"" is not a boolean`, "NULL"}},
		{"string to timestamp", str, "timestamp",
			[]any{"2024", "2024-3", "2024-01-02", "2024-1-2 3:4:5", "2024-01-02T03:04:05.123456789", "2024-01-02 03:04",
				"2024-01-02T03:04:05Z", "2024-01-02T03:04:05+01:00", "2024-01-02T03:04:05-0130", "2024-01-02T03:04:05+05",
				"2024-01-02 03:04:05 UTC", "2024-01-02 03:04:05UTC+01:00", " 2024-01-02 03:04:05.5 ", "2024-02-29",
				"1969-12-31 23:59:59.999999", nil,
				"12", "2024-13-01", "2024-02-30", "2024-01-02 24:00", "2024-01-02T", "2024-01-02 03", "2024-01-02 03:04:05 PST",
				"2024-01-02 03:04:05+19", "2024-01 03:04", "2024-01-02 03:04:05.", "294248-01-01", ""},
			[]string{"2024-01-01 00:00:00", "2024-03-01 00:00:00", "2024-01-02 00:00:00", "2024-01-02 03:04:05",
				"2024-01-02 03:04:05.123456", "2024-01-02 03:04:00", "2024-01-02 03:04:05", "2024-01-02 02:04:05",
				"2024-01-02 04:34:05", "2024-01-01 22:04:05", "2024-01-02 03:04:05", "2024-01-02 02:04:05",
				"2024-01-02 03:04:05.5", "2024-02-29 00:00:00", "1969-12-31 23:59:59.999999", "NULL",
				`!"12" is not a valid timestamp`, `!"2024-13-01" is not a valid timestamp`, `!"2024-02-30" is not a valid timestamp`,
				`!"2024-01-02 24:00" is not a valid timestamp`, `!"2024-01-02T" is not a valid timestamp`,
				`!"2024-01-02 03" is not a valid timestamp`, `!"2024-01-02 03:04:05 PST" is not a valid timestamp`,
				`!"2024-01-02 03:04:05+19" is not a valid timestamp`, `!"2024-01 03:04" is not a valid timestamp`,
				`!"2024-01-02 03:04:05." is not a valid timestamp`, `!"294248-01-01" is out of range`,
				`!"" is not a valid timestamp`}},
		{"string to date", str, "date",
			[]any{"2024", "2024-3", "2024-01-02", " 2024-1-2 ", "2024-01-02 03:04:05", "2024-01-02Tanything", "1969-12-31", nil,
				"2024-01-02xyz", "2024-01 03", "2024-02-30", "24-01-02", "", "2024-00-01", "2024-01-02 "},
			[]string{"2024-01-01", "2024-03-01", "2024-01-02", "2024-01-02", "2024-01-02", "2024-01-02", "1969-12-31", "NULL",
				`!"2024-01-02xyz" is not a valid date`, `!"2024-01 03" is not a valid date`, `!"2024-02-30" is not a valid date`,
				`!"24-01-02" is not a valid date`, `!"" is not a valid date`, `!"2024-00-01" is not a valid date`, "2024-01-02"}},
		{"int to timestamp", arrow.PrimitiveTypes.Int32, "timestamp", []any{10, -1, 0, nil},
			[]string{"1970-01-01 00:00:10", "1969-12-31 23:59:59", "1970-01-01 00:00:00", "NULL"}},
		{"tinyint to timestamp", arrow.PrimitiveTypes.Int8, "timestamp", []any{-128}, []string{"1969-12-31 23:57:52"}},
		{"bigint to timestamp", arrow.PrimitiveTypes.Int64, "timestamp", []any{math.MaxInt64, 1704164645, math.MinInt64},
			[]string{"!9223372036854775807 is out of range", "2024-01-02 03:04:05", "!-9223372036854775808 is out of range"}},
		{"double to timestamp", arrow.PrimitiveTypes.Float64, "timestamp",
			[]any{1.5, -1.5, math.NaN(), math.Inf(1), math.Inf(-1), 1e300, 1e-7, nil},
			[]string{"1970-01-01 00:00:01.5", "1969-12-31 23:59:58.5", "!NaN is not a finite number", "!Infinity is not a finite number",
				"!-Infinity is not a finite number", "!1.0E300 is out of range", "1970-01-01 00:00:00", "NULL"}},
		{"float to timestamp", arrow.PrimitiveTypes.Float32, "timestamp", []any{0.25}, []string{"1970-01-01 00:00:00.25"}},
		{"double to int", arrow.PrimitiveTypes.Float64, "int",
			[]any{1.9, -1.9, 0.0, math.NaN(), math.Inf(1), math.Inf(-1), 3e9, 2147483647.0, -2147483648.9, nil},
			[]string{"1", "-1", "0", "!NaN is not a finite number", "!Infinity is not a finite number", "!-Infinity is not a finite number",
				"!3.0E9 is out of range", "2147483647", "-2147483648", "NULL"}},
		{"double to bigint", arrow.PrimitiveTypes.Float64, "bigint", []any{9.3e18, -9.223372036854775808e18, 1e15 + 0.5},
			[]string{"!9.3E18 is out of range", "-9223372036854775808", "1000000000000000"}},
		{"float to smallint", arrow.PrimitiveTypes.Float32, "smallint", []any{40000.0, 1.5, -32768.0},
			[]string{"!40000.0 is out of range", "1", "-32768"}},
		{"double to tinyint", arrow.PrimitiveTypes.Float64, "tinyint", []any{127.9, 128.0}, []string{"127", "!128.0 is out of range"}},
		{"bigint to int", arrow.PrimitiveTypes.Int64, "int", []any{3000000000, 5, -2147483649, nil},
			[]string{"!3000000000 is out of range", "5", "!-2147483649 is out of range", "NULL"}},
		{"int to bigint", arrow.PrimitiveTypes.Int32, "bigint", []any{5, -5}, []string{"5", "-5"}},
		{"int to tinyint", arrow.PrimitiveTypes.Int32, "tinyint", []any{300, -3}, []string{"!300 is out of range", "-3"}},
		{"double 2^63 to bigint", arrow.PrimitiveTypes.Float64, "bigint", []any{0x1p63, -0x1p63, 0x1p64},
			[]string{"9223372036854775807", "-9223372036854775808", `!1.8446744073709552E19 is out of range`}}, // as Spark's DoubleExactNumeric
		{"bigint to double", arrow.PrimitiveTypes.Int64, "double", []any{3, nil}, []string{"3.0", "NULL"}},
		{"double to float", arrow.PrimitiveTypes.Float64, "float", []any{1.5, 1e300}, []string{"1.5", "Infinity"}},
		{"unsigned to int", arrow.PrimitiveTypes.Uint64, "bigint", []any{uint64(math.MaxUint64), uint64(7)},
			[]string{"!18446744073709551615 is out of range", "7"}},
		{"unsigned to timestamp", arrow.PrimitiveTypes.Uint64, "timestamp", []any{uint64(60)}, []string{"1970-01-01 00:01:00"}},

		// timestamps of every unit and zone
		{"timestamp(s) to bigint", tsSec, "bigint", []any{86401, -1, nil}, []string{"86401", "-1", "NULL"}},
		{"timestamp(s) to double", tsSec, "double", []any{86401, -1}, []string{"86401.0", "-1.0"}},
		{"timestamp(s) to date", tsSec, "date", []any{86401, -1, nil}, []string{"1970-01-02", "1969-12-31", "NULL"}},
		{"timestamp(s) to timestamp", tsSec, "timestamp", []any{86401, -1, math.MaxInt64, nil},
			[]string{"1970-01-02 00:00:01", "1969-12-31 23:59:59", "!292277026596-12-04 15:30:07 is out of range", "NULL"}},
		{"timestamp(ms) to bigint", tsMs, "bigint", []any{1500, -1500}, []string{"1", "-2"}},
		{"timestamp(ms) to double", tsMs, "double", []any{1500, -1500}, []string{"1.5", "-1.5"}},
		// One division, as Spark: a floored split made -1 ms -0.0010000000000000009.
		{"timestamp(ms) to double, small negatives", tsMs, "double", []any{-1, -86400}, []string{"-0.001", "-86.4"}},
		{"timestamp(ms) to date", tsMs, "date", []any{1500, -1500}, []string{"1970-01-01", "1969-12-31"}},
		{"timestamp(ms) to timestamp", tsMs, "timestamp", []any{1500, -1500}, []string{"1970-01-01 00:00:01.5", "1969-12-31 23:59:58.5"}},
		{"timestamp(us) to int", tsUs, "int", []any{1500000, -1500000, 3000000000000000, nil},
			[]string{"1", "-2", "!2065-01-24 05:20:00 is out of range", "NULL"}},
		{"timestamp(us) to bigint", tsUs, "bigint", []any{1704164645123456}, []string{"1704164645"}},
		{"timestamp(us) to float", tsUs, "float", []any{1500000}, []string{"1.5"}},
		{"timestamp(us) to date", tsUs, "date", []any{1704164645123456, -1}, []string{"2024-01-02", "1969-12-31"}},
		{"timestamp(us, New York) to date", tsUsNY, "date", []any{1704164645123456}, []string{"2024-01-02"}},
		{"timestamp(us, New York) to timestamp", tsUsNY, "timestamp", []any{1704164645123456}, []string{"2024-01-02 03:04:05.123456"}},
		{"timestamp(us, no zone) to timestamp", tsUsNo, "timestamp", []any{-1, nil}, []string{"1969-12-31 23:59:59.999999", "NULL"}},
		{"timestamp(us) to timestamp", tsUs, "timestamp", []any{1, nil}, []string{"1970-01-01 00:00:00.000001", "NULL"}},
		{"timestamp(ns) to bigint", tsNs, "bigint", []any{1500000999, -1}, []string{"1", "-1"}},
		{"timestamp(ns) to double", tsNs, "double", []any{1500000000, -500000000}, []string{"1.5", "-0.5"}},
		{"timestamp(ns) to date", tsNs, "date", []any{-1, 86400000000000}, []string{"1969-12-31", "1970-01-02"}},
		{"timestamp(ns) to timestamp", tsNs, "timestamp", []any{1500000999, -1, nil},
			[]string{"1970-01-01 00:00:01.5", "1969-12-31 23:59:59.999999", "NULL"}},
		{"date to timestamp", arrow.FixedWidthTypes.Date32, "timestamp", []any{19724, -1, nil},
			[]string{"2024-01-02 00:00:00", "1969-12-31 00:00:00", "NULL"}},

		// conversions that were already right
		{"bigint to string", arrow.PrimitiveTypes.Int64, "string", []any{5, nil}, []string{"5", "NULL"}},
		{"timestamp(ms) to string", tsMs, "string", []any{1500}, []string{"1970-01-01 00:00:01.5"}},
		{"boolean to int", arrow.FixedWidthTypes.Boolean, "int", []any{true, false, nil}, []string{"1", "0", "NULL"}},
		{"string to string", str, "string", []any{" 12 ", nil}, []string{" 12 ", "NULL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.in) != len(tt.want) {
				t.Fatalf("%d inputs, %d wants", len(tt.in), len(tt.want))
			}
			mem := testkit.CheckedAlloc(t)
			col := castColumnOf(t, mem, tt.from, tt.in)
			defer col.Release()
			schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tt.from, Nullable: true}}, nil)
			in := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
			defer in.Release()
			op := operators.Cast("c", tt.to, operators.Options{OnError: operators.ErrorColumn("err")})
			if _, err := op.OutputSchema(schema); err != nil {
				t.Fatal(err)
			}
			var got []string
			ctx := operators.WithAllocator(context.Background(), mem)
			err := op.Process(ctx, in, func(b arrow.RecordBatch) error {
				vals, errs := b.Column(0), b.Column(1).(*array.String)
				for i := range int(b.NumRows()) {
					if errs.IsNull(i) {
						got = append(got, renderCast(vals, i))
						continue
					}
					msg, ok := strings.CutPrefix(errs.Value(i), "cast c to "+tt.to+": ")
					if !ok {
						t.Errorf("row %d: error %q does not name the column and type", i, errs.Value(i))
					}
					if !vals.IsNull(i) {
						t.Errorf("row %d failed but is not null", i)
					}
					got = append(got, "!"+msg)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSparkCastNoCopy: a cast to the same type returns the column itself.
func TestSparkCastNoCopy(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	col := castColumnOf(t, mem, tsUs, []any{1, 2})
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tsUs, Nullable: true}}, nil)
	in := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
	defer in.Release()
	ctx := operators.WithAllocator(context.Background(), mem)
	err := operators.Cast("c", "timestamp", operators.Options{}).Process(ctx, in, func(b arrow.RecordBatch) error {
		if b.Column(0).Data().Buffers()[1] != col.Data().Buffers()[1] {
			t.Error("the column was copied")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSparkCastPlanning: Cast accepts what it converts itself even where arrow-go's compute
// cannot, and still refuses what nothing converts.
func TestSparkCastPlanning(t *testing.T) {
	for _, c := range []struct {
		from arrow.DataType
		to   string
		ok   bool
	}{
		{arrow.BinaryTypes.String, "date", true},
		{arrow.BinaryTypes.String, "timestamp", true},
		{arrow.BinaryTypes.String, "boolean", true},
		{tsNs, "int", true},
		{tsSec, "double", true},
		{tsMs, "date", true},
		{arrow.PrimitiveTypes.Float64, "timestamp", true},
		{arrow.PrimitiveTypes.Int16, "timestamp", true},
		{arrow.FixedWidthTypes.Date32, "timestamp", true},
		{arrow.ListOf(arrow.PrimitiveTypes.Int64), "int", false},
	} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: c.from, Nullable: true}}, nil)
		_, err := operators.Cast("c", c.to, operators.Options{}).OutputSchema(schema)
		if (err == nil) != c.ok {
			t.Errorf("%s to %s: %v; want ok %v", c.from, c.to, err, c.ok)
		}
	}
}

// TestSparkCastPolicies: a row that does not convert fails the batch by default, or goes to
// the side output.
func TestSparkCastPolicies(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	col := castColumnOf(t, mem, arrow.BinaryTypes.String, []any{"1", "0x10", "2024-13-01", nil, "3"})
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: col.DataType(), Nullable: true}}, nil)
	in := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
	defer in.Release()
	ctx := operators.WithAllocator(context.Background(), mem)

	err := operators.Cast("s", "int", operators.Options{}).Process(ctx, in, func(arrow.RecordBatch) error { return nil })
	var re *operators.RowError
	if !errors.As(err, &re) || re.Row != 1 || re.Failed != 2 {
		t.Fatalf("FailBatch: %v", err)
	}
	if want := `cast s to int: "0x10" is not a base-10 integer`; !strings.Contains(err.Error(), want) {
		t.Errorf("FailBatch: %v; want %s", err, want)
	}

	var side, kept []string
	policy := operators.SideOutput(func(_ context.Context, failed arrow.RecordBatch) error {
		msgs := failed.Column(int(failed.NumCols()) - 1).(*array.String)
		for i := range msgs.Len() {
			side = append(side, failed.Column(0).(*array.String).Value(i)+": "+msgs.Value(i))
		}
		return nil
	})
	err = operators.Cast("s", "timestamp", operators.Options{OnError: policy}).Process(ctx, in, func(b arrow.RecordBatch) error {
		for i := range int(b.NumRows()) {
			kept = append(kept, renderCast(b.Column(0), i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSide := []string{`1: cast s to timestamp: "1" is not a valid timestamp`, `0x10: cast s to timestamp: "0x10" is not a valid timestamp`,
		`2024-13-01: cast s to timestamp: "2024-13-01" is not a valid timestamp`, `3: cast s to timestamp: "3" is not a valid timestamp`}
	if diff := cmp.Diff(wantSide, side); diff != "" {
		t.Errorf("side output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"NULL"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}
