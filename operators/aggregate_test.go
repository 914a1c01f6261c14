package operators_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/golden"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/state"
)

var (
	aggUpdate   = operators.BatchInfo{Mode: operators.ModeUpdate}
	aggComplete = operators.BatchInfo{Mode: operators.ModeComplete}
	aggTS       = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

// aggWm returns info with the watermark wmMs.
func aggWm(info operators.BatchInfo, wmMs int64) operators.BatchInfo {
	info.WatermarkMs, info.HasWatermark = wmMs, true
	return info
}

// aggValueType is a type of aggregate input, with a generator of its random values.
type aggValueType struct {
	name    string
	typ     arrow.DataType
	gen     func(r *rand.Rand) any
	numeric bool
	float   bool
}

var aggStrings = []string{"", "a", "b", "ab", "a\x00", "a\x00b", "é", "\xff", "zebra", "Zebra"}

var aggValueTypes = []aggValueType{
	{name: "int8", typ: arrow.PrimitiveTypes.Int8, numeric: true, gen: func(r *rand.Rand) any { return int64(r.IntN(256) - 128) }},
	{name: "int16", typ: arrow.PrimitiveTypes.Int16, numeric: true, gen: func(r *rand.Rand) any { return int64(r.IntN(65536) - 32768) }},
	{name: "int32", typ: arrow.PrimitiveTypes.Int32, numeric: true, gen: func(r *rand.Rand) any { return int64(int32(r.Uint32())) }},
	{name: "int64", typ: arrow.PrimitiveTypes.Int64, numeric: true, gen: func(r *rand.Rand) any { return r.Int64N(2e12) - 1e12 }},
	{name: "uint8", typ: arrow.PrimitiveTypes.Uint8, numeric: true, gen: func(r *rand.Rand) any { return uint64(r.IntN(256)) }},
	{name: "uint16", typ: arrow.PrimitiveTypes.Uint16, numeric: true, gen: func(r *rand.Rand) any { return uint64(r.IntN(65536)) }},
	{name: "uint32", typ: arrow.PrimitiveTypes.Uint32, numeric: true, gen: func(r *rand.Rand) any { return uint64(r.Uint32()) }},
	{name: "uint64", typ: arrow.PrimitiveTypes.Uint64, numeric: true, gen: func(r *rand.Rand) any { return r.Uint64N(1e12) }},
	{name: "float32", typ: arrow.PrimitiveTypes.Float32, numeric: true, float: true, gen: func(r *rand.Rand) any {
		return float64(float32(r.NormFloat64() * 1000))
	}},
	{name: "float64", typ: arrow.PrimitiveTypes.Float64, numeric: true, float: true, gen: func(r *rand.Rand) any {
		switch r.IntN(50) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1)
		case 2:
			return math.Copysign(0, -1)
		}
		return r.NormFloat64() * 1e6
	}},
	{name: "bool", typ: arrow.FixedWidthTypes.Boolean, gen: func(r *rand.Rand) any { return r.IntN(2) == 0 }},
	{name: "string", typ: arrow.BinaryTypes.String, gen: func(r *rand.Rand) any { return aggStrings[r.IntN(len(aggStrings))] }},
	{name: "large_string", typ: arrow.BinaryTypes.LargeString, gen: func(r *rand.Rand) any { return aggStrings[r.IntN(len(aggStrings))] }},
	{name: "binary", typ: arrow.BinaryTypes.Binary, gen: func(r *rand.Rand) any { return aggStrings[r.IntN(len(aggStrings))] }},
	{name: "large_binary", typ: arrow.BinaryTypes.LargeBinary, gen: func(r *rand.Rand) any { return aggStrings[r.IntN(len(aggStrings))] }},
	{name: "timestamp", typ: aggTS, gen: func(r *rand.Rand) any { return 1_700_000_000_000_000 + r.Int64N(1e12) }},
	{name: "date32", typ: arrow.FixedWidthTypes.Date32, gen: func(r *rand.Rand) any { return int64(r.IntN(40000) - 10000) }},
	{name: "date64", typ: arrow.FixedWidthTypes.Date64, gen: func(r *rand.Rand) any { return (r.Int64N(40000) - 10000) * 86_400_000 }},
	{name: "duration", typ: arrow.FixedWidthTypes.Duration_ms, gen: func(r *rand.Rand) any { return r.Int64N(1e9) - 5e8 }},
}

// aggKeys is a pool of string keys, null included.
var aggKeys = []any{nil, "", "a", "b", "x\x00y", "é"}

// aggRandom returns n random keys from aggKeys and values of vt, a fifth of them null.
func aggRandom(r *rand.Rand, n int, vt aggValueType) (keys, vals []any) {
	keys, vals = make([]any, n), make([]any, n)
	for i := range n {
		keys[i] = aggKeys[r.IntN(len(aggKeys))]
		if r.IntN(5) > 0 {
			vals[i] = vt.gen(r)
		}
	}
	return keys, vals
}

// aggTypeAggs returns the aggregates of the type test for vt, and the index of
// approx_count_distinct in the output row.
func aggTypeAggs(vt aggValueType) ([]operators.Agg, int) {
	aggs := []operators.Agg{
		operators.Count("*"), operators.Count("v"), operators.Min("v"), operators.Max("v"),
		operators.First("v"), operators.Last("v"), operators.ApproxCountDistinct("v"),
	}
	if vt.numeric {
		aggs = append(aggs, operators.Sum("v"), operators.Avg("v"))
	}
	return aggs, 7
}

// aggNormalize returns the value a group key or a distinct count sees: -0 as 0, one NaN.
func aggNormalize(v any) any {
	switch x := v.(type) {
	case float64:
		if x == 0 {
			return 0.0
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = aggNormalize(x[i])
		}
		return out
	}
	return v
}

func aggCanonical(v any) string {
	v = aggNormalize(v)
	if f, ok := v.(float64); ok && math.IsNaN(f) {
		return "NaN"
	}
	return fmt.Sprintf("%#v", v)
}

// aggReference computes the type test's output directly: the rows of (key, count(*),
// count(v), min, max, first, last, approx_count_distinct (exact), sum, avg), sorted by key.
func aggReference(keys, vals []any, vt aggValueType) [][]any {
	type group struct {
		key  any
		vals []any
	}
	groups := map[string]*group{}
	var order []*group
	for i, k := range keys {
		c := aggCanonical(k)
		g := groups[c]
		if g == nil {
			g = &group{key: aggNormalize(k)}
			groups[c] = g
			order = append(order, g)
		}
		g.vals = append(g.vals, vals[i])
	}
	var rows [][]any
	for _, g := range order {
		var nn []any
		distinct := map[string]bool{}
		for _, v := range g.vals {
			if v != nil {
				nn = append(nn, v)
				distinct[aggCanonical(v)] = true
			}
		}
		var minV, maxV any
		for _, v := range nn {
			if minV == nil || aggCompare(v, minV) < 0 {
				minV = v
			}
			if maxV == nil || aggCompare(v, maxV) > 0 {
				maxV = v
			}
		}
		row := []any{g.key, int64(len(g.vals)), int64(len(nn)), minV, maxV, g.vals[0], g.vals[len(g.vals)-1], int64(len(distinct))}
		if vt.numeric {
			var sum, avg any
			if len(nn) > 0 {
				var fs float64
				var is int64
				for _, v := range nn {
					switch x := v.(type) {
					case int64:
						is += x
						fs += float64(x)
					case uint64:
						is += int64(x)
						fs += float64(x)
					case float64:
						fs += x
					}
				}
				sum, avg = is, fs/float64(len(nn))
				if vt.float {
					sum = fs
				}
			}
			row = append(row, sum, avg)
		}
		rows = append(rows, row)
	}
	aggSortRows(rows, 1)
	return rows
}

// aggSlices returns in cut into n consecutive slices, which the caller releases.
func aggSlices(in arrow.RecordBatch, n int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	rows := in.NumRows()
	for i := range int64(n) {
		out = append(out, in.NewSlice(rows*i/int64(n), rows*(i+1)/int64(n)))
	}
	return out
}

func aggRelease(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// TestAggregateFunctionsByType computes every aggregate over every supported input type, nulls
// included, and compares it with a direct computation: in one micro-batch of three Process
// calls, and over three micro-batches whose state goes through the store.
func TestAggregateFunctionsByType(t *testing.T) {
	for i, vt := range aggValueTypes {
		t.Run(vt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			schema := arrow.NewSchema([]arrow.Field{
				{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
				{Name: "v", Type: vt.typ, Nullable: true},
			}, nil)
			keys, vals := aggRandom(r, 600, vt)
			in := aggRecord(mem, schema, keys, vals)
			defer in.Release()
			want := aggReference(keys, vals, vt)
			aggs, approx := aggTypeAggs(vt)

			op := operators.Aggregate([]string{"k"}, aggs, operators.Options{})
			f := newAggFixture(t, mem, op, schema)
			for _, fl := range f.declared.Fields()[1:] {
				var wantType arrow.DataType
				switch {
				case strings.HasPrefix(fl.Name, "count"), strings.HasPrefix(fl.Name, "approx"):
					wantType = arrow.PrimitiveTypes.Int64
				case fl.Name == "avg(v)", fl.Name == "sum(v)" && vt.float:
					wantType = arrow.PrimitiveTypes.Float64
				case fl.Name == "sum(v)":
					wantType = arrow.PrimitiveTypes.Int64
				default:
					wantType = vt.typ
				}
				if !arrow.TypeEqual(fl.Type, wantType) {
					t.Errorf("column %s is of type %s; want %s", fl.Name, fl.Type, wantType)
				}
			}

			parts := aggSlices(in, 3)
			defer aggRelease(parts)
			got := f.mustBatch(aggUpdate, newAggMapStore(), parts...)
			aggCheckApprox(t, got, want, approx)
			if diff := cmp.Diff(want, got, aggFloats); diff != "" {
				t.Errorf("one micro-batch (-want +got):\n%s", diff)
			}

			st := newAggMapStore()
			for _, p := range parts {
				got = f.mustBatch(aggComplete, st, p)
				if err := st.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			aggCheckApprox(t, got, want, approx)
			if diff := cmp.Diff(want, got, aggFloats); diff != "" {
				t.Errorf("three micro-batches (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAggregateExpressions aggregates expressions, with expression keys named by AS or by
// their text.
func TestAggregateExpressions(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "w", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	in := aggRecord(mem, schema,
		[]any{"Fox", "fox", "DOG", nil, "dog"},
		[]any{int64(1), int64(2), int64(3), int64(4), nil})
	defer in.Release()
	op := operators.Aggregate([]string{"w.lowerAscii() AS word", "n > 1"},
		[]operators.Agg{operators.Sum("n * 10").As("tens"), operators.Max("size(w)")}, operators.Options{})
	f := newAggFixture(t, mem, op, schema)
	if got, want := strings.Join(aggFieldNames(f.declared), ", "), "word, n > 1, tens, max(size(w))"; got != want {
		t.Errorf("columns %s; want %s", got, want)
	}
	got := f.mustBatch(aggUpdate, newAggMapStore(), in)
	want := [][]any{
		{nil, true, int64(40), nil},
		{"dog", nil, nil, int64(3)},
		{"dog", true, int64(30), int64(3)},
		{"fox", false, int64(10), int64(3)},
		{"fox", true, int64(20), int64(3)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func aggFieldNames(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

// TestAggregateKeyTypes groups by every supported key type, nulls, -0, NaN and strings with
// zero bytes included, and checks the groups and their order (the order of the values, nulls
// first) against a direct computation.
func TestAggregateKeyTypes(t *testing.T) {
	nan, inf, negZero := math.NaN(), math.Inf(1), math.Copysign(0, -1)
	floats := []any{negZero, 0.0, nan, -nan, inf, -inf, 1.5, -2.25}
	strs := []any{"", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "é"}
	ints := []any{int64(math.MinInt64), int64(-1), int64(0), int64(1), int64(math.MaxInt64)}
	cases := []struct {
		name string
		typ  arrow.DataType
		pool []any
	}{
		{"bool", arrow.FixedWidthTypes.Boolean, []any{true, false}},
		{"int8", arrow.PrimitiveTypes.Int8, []any{int64(-128), int64(-1), int64(0), int64(1), int64(127)}},
		{"int16", arrow.PrimitiveTypes.Int16, []any{int64(-32768), int64(-1), int64(0), int64(300), int64(32767)}},
		{"int32", arrow.PrimitiveTypes.Int32, []any{int64(math.MinInt32), int64(-1), int64(0), int64(70000), int64(math.MaxInt32)}},
		{"int64", arrow.PrimitiveTypes.Int64, ints},
		{"uint8", arrow.PrimitiveTypes.Uint8, []any{uint64(0), uint64(1), uint64(255)}},
		{"uint16", arrow.PrimitiveTypes.Uint16, []any{uint64(0), uint64(256), uint64(65535)}},
		{"uint32", arrow.PrimitiveTypes.Uint32, []any{uint64(0), uint64(1), uint64(math.MaxUint32)}},
		{"uint64", arrow.PrimitiveTypes.Uint64, []any{uint64(0), uint64(1), uint64(1 << 63), uint64(math.MaxUint64)}},
		{"float32", arrow.PrimitiveTypes.Float32, floats},
		{"float64", arrow.PrimitiveTypes.Float64, append([]any{1e300, -1e-300}, floats...)},
		{"string", arrow.BinaryTypes.String, strs},
		{"large_string", arrow.BinaryTypes.LargeString, strs},
		{"binary", arrow.BinaryTypes.Binary, strs},
		{"large_binary", arrow.BinaryTypes.LargeBinary, strs},
		{"timestamp_s", &arrow.TimestampType{Unit: arrow.Second}, ints},
		{"timestamp_ms", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, ints},
		{"timestamp_us", aggTS, ints},
		{"timestamp_ns", &arrow.TimestampType{Unit: arrow.Nanosecond}, ints},
		{"date32", arrow.FixedWidthTypes.Date32, []any{int64(-1), int64(0), int64(19000)}},
		{"date64", arrow.FixedWidthTypes.Date64, []any{int64(-86_400_000), int64(0), int64(86_400_000)}},
		{"duration", arrow.FixedWidthTypes.Duration_us, ints},
		{"struct", arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), []any{[]any{int64(1), "x"}, []any{int64(1), nil}, []any{nil, "x"}, []any{int64(-1), "y"}, []any{int64(1), "x\x00"}}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			r := rand.New(rand.NewPCG(uint64(i), 11))
			schema := arrow.NewSchema([]arrow.Field{
				{Name: "k", Type: c.typ, Nullable: true},
				{Name: "i", Type: arrow.PrimitiveTypes.Int64},
			}, nil)
			n := 300
			keys, idx := make([]any, n), make([]any, n)
			for j := range n {
				if r.IntN(7) > 0 {
					keys[j] = c.pool[r.IntN(len(c.pool))]
				}
				idx[j] = int64(j)
			}
			in := aggRecord(mem, schema, keys, idx)
			defer in.Release()
			groups := map[string]int{}
			var want [][]any
			for j, k := range keys {
				ck := aggCanonical(k)
				if g, ok := groups[ck]; ok {
					want[g][1] = want[g][1].(int64) + 1
					want[g][2] = int64(j)
					continue
				}
				groups[ck] = len(want)
				want = append(want, []any{aggNormalize(k), int64(1), int64(j)})
			}
			aggSortRows(want, 1)

			op := operators.Aggregate([]string{"k"}, []operators.Agg{operators.Count("*"), operators.Max("i")}, operators.Options{})
			f := newAggFixture(t, mem, op, schema)
			parts := aggSlices(in, 2)
			defer aggRelease(parts)
			st := newAggMapStore()
			f.mustBatch(aggUpdate, st, parts[0])
			if err := st.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.mustBatch(aggUpdate, st, parts[1])
			got := f.mustBatch(aggComplete, st)
			if diff := cmp.Diff(want, got, aggFloats); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Signs of zeros and NaNs: the output key is the normalised value.
			for _, row := range got {
				if f, ok := row[0].(float64); ok && (math.Signbit(f) && !math.IsNaN(f) && f == 0) {
					t.Errorf("key -0 emitted; want 0")
				}
			}
		})
	}
}

// TestAggregateConcurrentProcess gives a micro-batch's batches to concurrent Process calls and
// compares the result with serial processing.
func TestAggregateConcurrentProcess(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	r := rand.New(rand.NewPCG(1, 2))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	n := 20000
	ks, vs, ss := make([]any, n), make([]any, n), make([]any, n)
	for i := range n {
		if r.IntN(50) > 0 {
			ks[i] = r.Int64N(500)
		}
		if r.IntN(10) > 0 {
			vs[i] = r.Int64N(1e6)
		}
		ss[i] = fmt.Sprint(r.IntN(300))
	}
	in := aggRecord(mem, schema, ks, vs, ss)
	defer in.Release()
	aggs := []operators.Agg{
		operators.Count("*"), operators.Count("v"), operators.Sum("v"), operators.Min("v"), operators.Max("s"),
		operators.ApproxCountDistinct("s"),
	}
	run := func(concurrent bool) [][]any {
		op := operators.Aggregate([]string{"k"}, aggs, operators.Options{})
		f := newAggFixture(t, mem, op, schema)
		parts := aggSlices(in, 16)
		defer aggRelease(parts)
		rows, err := f.batch(aggUpdate, newAggMapStore(), concurrent, parts...)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	serial, concurrent := run(false), run(true)
	if len(serial) != 501 {
		t.Errorf("%d groups; want 501", len(serial))
	}
	if diff := cmp.Diff(serial, concurrent); diff != "" {
		t.Errorf("concurrent Process differs from serial (-serial +concurrent):\n%s", diff)
	}
}

// TestAggregateModes carries a word count through the store in each output mode.
func TestAggregateModes(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "word", Type: arrow.BinaryTypes.String}}, nil)
	b0 := aggRecord(mem, schema, []any{"a", "b", "a"})
	defer b0.Release()
	b1 := aggRecord(mem, schema, []any{"b", "c"})
	defer b1.Release()
	tests := []struct {
		mode    string
		want    [][][]any
		metrics []operators.StateMetrics
	}{{
		mode: operators.ModeUpdate,
		want: [][][]any{{{"a", int64(2)}, {"b", int64(1)}}, {{"b", int64(2)}, {"c", int64(1)}}, nil},
		metrics: []operators.StateMetrics{
			{OperatorName: "stateStoreSave", NumRowsTotal: 2, NumRowsUpdated: 2},
			{OperatorName: "stateStoreSave", NumRowsTotal: 3, NumRowsUpdated: 2},
			{OperatorName: "stateStoreSave", NumRowsTotal: 3},
		},
	}, {
		mode: operators.ModeComplete,
		want: [][][]any{
			{{"a", int64(2)}, {"b", int64(1)}},
			{{"a", int64(2)}, {"b", int64(2)}, {"c", int64(1)}},
			{{"a", int64(2)}, {"b", int64(2)}, {"c", int64(1)}},
		},
		metrics: []operators.StateMetrics{
			{OperatorName: "stateStoreSave", NumRowsTotal: 2, NumRowsUpdated: 2},
			{OperatorName: "stateStoreSave", NumRowsTotal: 3, NumRowsUpdated: 2},
			{OperatorName: "stateStoreSave", NumRowsTotal: 3},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			op := operators.Aggregate([]string{"word"}, []operators.Agg{operators.Count("*")}, operators.Options{})
			f := newAggFixture(t, mem, op, schema)
			st := newAggMapStore()
			for i, in := range [][]arrow.RecordBatch{{b0}, {b1}, nil} {
				got := f.mustBatch(operators.BatchInfo{ID: int64(i), Mode: tt.mode}, st, in...)
				if diff := cmp.Diff(tt.want[i], got); diff != "" {
					t.Errorf("batch %d (-want +got):\n%s", i, diff)
				}
				m := f.op.StateMetrics()
				m.MemoryUsedBytes = 0
				if diff := cmp.Diff(tt.metrics[i], m); diff != "" {
					t.Errorf("batch %d metrics (-want +got):\n%s", i, diff)
				}
				if err := st.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if m := f.op.StateMetrics(); m.MemoryUsedBytes <= 0 {
				t.Errorf("MemoryUsedBytes %d", m.MemoryUsedBytes)
			}
		})
	}
	t.Run("append without an event-time key", func(t *testing.T) {
		op := operators.Aggregate([]string{"word"}, []operators.Agg{operators.Count("*")}, operators.Options{})
		f := newAggFixture(t, mem, op, schema)
		_, err := f.batch(operators.BatchInfo{Mode: operators.ModeAppend}, newAggMapStore(), false, b0)
		if err == nil || !strings.Contains(err.Error(), "append output mode needs an event-time key") {
			t.Errorf("err = %v", err)
		}
	})
}

// aggEventSchema has an event-time column ts (delay 1s) and a word.
var aggEventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true, Metadata: aggMeta("1000")},
	{Name: "word", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// aggEventBatches are four micro-batches of aggEventSchema with their watermarks: none, 1000,
// 3000, 10000.
func aggEventBatches(mem memory.Allocator) ([]arrow.RecordBatch, []int64) {
	return []arrow.RecordBatch{
		aggRecord(mem, aggEventSchema,
			[]any{int64(1000), int64(2000), int64(1000), nil, int64(3000)},
			[]any{"a", "a", "a", "b", "c"},
			[]any{int64(1), int64(2), int64(3), int64(4), nil}),
		aggRecord(mem, aggEventSchema,
			[]any{int64(500), int64(1000), int64(3000), int64(2000), int64(4000)},
			[]any{"a", "a", "c", "b", "a"},
			[]any{int64(10), int64(20), int64(30), int64(40), int64(50)}),
		aggRecord(mem, aggEventSchema,
			[]any{int64(3000), int64(3001), nil},
			[]any{"c", "c", "b"},
			[]any{int64(100), int64(200), int64(300)}),
		aggRecord(mem, aggEventSchema, []any{}, []any{}, []any{}),
	}, []int64{-1, 1000, 3000, 10000}
}

func aggEventInfo(mode string, i int, wm int64) operators.BatchInfo {
	info := operators.BatchInfo{ID: int64(i), Mode: mode}
	if wm >= 0 {
		info = aggWm(info, wm)
	}
	return info
}

// TestAggregateWatermarkTimestampKey drops late rows and evicts groups by a timestamp key.
func TestAggregateWatermarkTimestampKey(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	batches, wms := aggEventBatches(mem)
	defer aggRelease(batches)
	type step struct {
		rows    [][]any
		dropped int64
		removed int64
		total   int64
	}
	tests := []struct {
		mode  string
		steps []step
	}{{
		mode: operators.ModeAppend,
		steps: []step{
			{rows: nil, total: 4},
			// wm 1000: rows at 500 and 1000 are late; the groups at 1000 are final.
			{rows: [][]any{{int64(1000), "a", int64(2), int64(4)}}, dropped: 2, removed: 1, total: 5},
			// wm 3000: the row at 3000 is late; the groups at 2000 and 3000 are final.
			{rows: [][]any{{int64(2000), "a", int64(1), int64(2)}, {int64(2000), "b", int64(1), int64(40)}, {int64(3000), "c", int64(2), int64(30)}}, dropped: 1, removed: 3, total: 3},
			{rows: [][]any{{int64(3001), "c", int64(1), int64(200)}, {int64(4000), "a", int64(1), int64(50)}}, removed: 2, total: 1},
		},
	}, {
		mode: operators.ModeUpdate,
		steps: []step{
			{rows: [][]any{{nil, "b", int64(1), int64(4)}, {int64(1000), "a", int64(2), int64(4)}, {int64(2000), "a", int64(1), int64(2)}, {int64(3000), "c", int64(1), nil}}, total: 4},
			{rows: [][]any{{int64(2000), "b", int64(1), int64(40)}, {int64(3000), "c", int64(2), int64(30)}, {int64(4000), "a", int64(1), int64(50)}}, dropped: 2, removed: 1, total: 5},
			{rows: [][]any{{nil, "b", int64(2), int64(304)}, {int64(3001), "c", int64(1), int64(200)}}, dropped: 1, removed: 3, total: 3},
			{rows: nil, removed: 2, total: 1},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			op := operators.Aggregate([]string{"ts AS event", "word"}, []operators.Agg{operators.Count("*"), operators.Sum("v")}, operators.Options{})
			f := newAggFixture(t, mem, op, aggEventSchema)
			if got := f.op.EventTimeKey(); got != "event" {
				t.Errorf("EventTimeKey() = %q; want event", got)
			}
			if d, ok := f.declared.Field(0).Metadata.GetValue(operators.WatermarkDelayKey); !ok || d != "1000" {
				t.Errorf("the event key's metadata is %v", f.declared.Field(0).Metadata)
			}
			st := newAggMapStore()
			for i, s := range tt.steps {
				got := f.mustBatch(aggEventInfo(tt.mode, i, wms[i]), st, batches[i])
				if diff := cmp.Diff(s.rows, got); diff != "" {
					t.Errorf("batch %d (-want +got):\n%s", i, diff)
				}
				m := f.op.StateMetrics()
				if m.NumRowsDroppedByWatermark != s.dropped || m.NumRowsRemoved != s.removed || m.NumRowsTotal != s.total {
					t.Errorf("batch %d: dropped %d, removed %d, total %d; want %d, %d, %d", i,
						m.NumRowsDroppedByWatermark, m.NumRowsRemoved, m.NumRowsTotal, s.dropped, s.removed, s.total)
				}
				if err := st.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestAggregateCompleteIgnoresWatermark: complete mode keeps every group, so, as in Spark, a
// watermark neither drops late rows nor evicts groups there: the output equals a run without
// one.
func TestAggregateCompleteIgnoresWatermark(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	batches, wms := aggEventBatches(mem)
	defer aggRelease(batches)
	run := func(watermark bool) ([][][]any, []operators.StateMetrics) {
		op := operators.Aggregate([]string{"ts AS event", "word"}, []operators.Agg{operators.Count("*"), operators.Sum("v")}, operators.Options{})
		f := newAggFixture(t, mem, op, aggEventSchema)
		st := newAggMapStore()
		var outs [][][]any
		var ms []operators.StateMetrics
		for i := range batches {
			wm := int64(-1)
			if watermark {
				wm = wms[i]
			}
			outs = append(outs, f.mustBatch(aggEventInfo(operators.ModeComplete, i, wm), st, batches[i]))
			ms = append(ms, f.op.StateMetrics())
			if err := st.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return outs, ms
	}
	with, withM := run(true)
	without, _ := run(false)
	if diff := cmp.Diff(without, with); diff != "" {
		t.Errorf("complete mode with a watermark (-without +with):\n%s", diff)
	}
	for i, m := range withM {
		if m.NumRowsDroppedByWatermark != 0 || m.NumRowsRemoved != 0 {
			t.Errorf("batch %d: dropped %d, removed %d; want none in complete mode", i, m.NumRowsDroppedByWatermark, m.NumRowsRemoved)
		}
	}
	if last := with[len(with)-1]; len(last) < 7 {
		t.Errorf("the last complete output has %d groups; want every group ever seen (7+)", len(last))
	}
}

// TestAggregateWatermarkWindowKey finalises windows (the struct Window emits) by their end.
func TestAggregateWatermarkWindowKey(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	window := arrow.StructOf(
		arrow.Field{Name: "start", Type: aggTS, Nullable: true},
		arrow.Field{Name: "end", Type: aggTS, Nullable: true},
	)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "window", Type: window, Nullable: true, Metadata: aggMeta("5000")},
		{Name: "word", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	w := func(startS int64) []any { return []any{startS * 1_000_000, (startS + 10) * 1_000_000} }
	b0 := aggRecord(mem, schema, []any{w(0), w(0), w(10), w(0)}, []any{"a", "b", "a", "a"})
	defer b0.Release()
	b1 := aggRecord(mem, schema, []any{w(0), w(10), w(20)}, []any{"a", "a", "b"})
	defer b1.Release()
	b2 := aggRecord(mem, schema, []any{w(20)}, []any{"b"})
	defer b2.Release()

	for _, mode := range []string{operators.ModeAppend, operators.ModeUpdate} {
		t.Run(mode, func(t *testing.T) {
			op := operators.Aggregate([]string{"window", "word"}, []operators.Agg{operators.Count("*")}, operators.Options{})
			f := newAggFixture(t, mem, op, schema)
			if got := f.op.EventTimeKey(); got != "window" {
				t.Errorf("EventTimeKey() = %q", got)
			}
			st := newAggMapStore()
			out0 := f.mustBatch(aggEventInfo(mode, 0, -1), st, b0)
			_ = st.Commit(context.Background())
			// wm 10s: window [0s, 10s) ends at the watermark: final; its late row is dropped.
			out1 := f.mustBatch(aggEventInfo(mode, 1, 10_000), st, b1)
			m1 := f.op.StateMetrics()
			_ = st.Commit(context.Background())
			// wm 25s: window [10s, 20s) is final, [20s, 30s) is not.
			out2 := f.mustBatch(aggEventInfo(mode, 2, 25_000), st, b2)
			m2 := f.op.StateMetrics()
			var want [][][]any
			if mode == operators.ModeAppend {
				want = [][][]any{nil, {{w(0), "a", int64(2)}, {w(0), "b", int64(1)}}, {{w(10), "a", int64(2)}}}
			} else {
				want = [][][]any{
					{{w(0), "a", int64(2)}, {w(0), "b", int64(1)}, {w(10), "a", int64(1)}},
					{{w(10), "a", int64(2)}, {w(20), "b", int64(1)}},
					{{w(20), "b", int64(2)}},
				}
			}
			if diff := cmp.Diff(want, [][][]any{out0, out1, out2}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if m1.NumRowsDroppedByWatermark != 1 || m1.NumRowsRemoved != 2 || m2.NumRowsRemoved != 1 || m2.NumRowsTotal != 1 {
				t.Errorf("metrics %+v, %+v", m1, m2)
			}
		})
	}
}

// TestAggregateCrashReplay fails each micro-batch once after Finish (the store rolled back, as
// after a crash before its commit) and replays it, on the same operator and on a new one: the
// output and the state are those of a run without the failure.
func TestAggregateCrashReplay(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	batches, wms := aggEventBatches(mem)
	defer aggRelease(batches)
	aggs := []operators.Agg{
		operators.Count("*"), operators.Sum("v"), operators.Avg("v"), operators.Min("v"), operators.Max("v"),
		operators.First("v"), operators.Last("v"), operators.ApproxCountDistinct("v"),
	}
	newOp := func() *aggFixture {
		return newAggFixture(t, mem, operators.Aggregate([]string{"ts", "word"}, aggs, operators.Options{}), aggEventSchema)
	}
	for _, mode := range []string{operators.ModeAppend, operators.ModeUpdate, operators.ModeComplete} {
		t.Run(mode, func(t *testing.T) {
			// Without failures.
			f := newOp()
			st := newAggMapStore()
			var outs [][][]any
			var states []map[string]string
			for i, b := range batches {
				outs = append(outs, f.mustBatch(aggEventInfo(mode, i, wms[i]), st, b))
				_ = st.Commit(context.Background())
				states = append(states, st.snapshot())
			}
			for n := range batches {
				for _, restart := range []bool{false, true} {
					f := newOp()
					st := newAggMapStore()
					for i := range n {
						f.mustBatch(aggEventInfo(mode, i, wms[i]), st, batches[i])
						_ = st.Commit(context.Background())
					}
					f.mustBatch(aggEventInfo(mode, n, wms[n]), st, batches[n])
					st.Rollback()
					if restart {
						f = newOp()
					}
					for i := n; i < len(batches); i++ {
						got := f.mustBatch(aggEventInfo(mode, i, wms[i]), st, batches[i])
						if diff := cmp.Diff(outs[i], got, aggFloats); diff != "" {
							t.Errorf("failed at %d (restart %v): batch %d (-want +got):\n%s", n, restart, i, diff)
						}
						_ = st.Commit(context.Background())
						if diff := cmp.Diff(states[i], st.snapshot()); diff != "" {
							t.Errorf("failed at %d (restart %v): state after batch %d (-want +got):\n%s", n, restart, i, diff)
						}
					}
				}
			}
		})
	}
}

// TestAggregateRestartFromCheckpoint keeps the state in the checkpoint with package state, and
// replays a batch on a new operator over the store reopened at the batch's version, as after a
// crash between the state's commit and the batch's.
func TestAggregateRestartFromCheckpoint(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := context.Background()
	batches, wms := aggEventBatches(mem)
	defer aggRelease(batches)
	aggs := []operators.Agg{operators.Count("*"), operators.Sum("v"), operators.First("word"), operators.ApproxCountDistinct("v")}
	newOp := func() *aggFixture {
		return newAggFixture(t, mem, operators.Aggregate([]string{"ts"}, aggs, operators.Options{}), aggEventSchema)
	}
	for _, mode := range []string{operators.ModeUpdate, operators.ModeComplete, operators.ModeAppend} {
		t.Run(mode, func(t *testing.T) {
			// The reference: a run on the map store.
			var want [][][]any
			ref, refSt := newOp(), newAggMapStore()
			for i, b := range batches {
				want = append(want, ref.mustBatch(aggEventInfo(mode, i, wms[i]), refSt, b))
				_ = refSt.Commit(ctx)
			}

			loc, err := checkpoint.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			open := func(version int64) state.Store {
				st, err := state.Open(ctx, loc, "state/0", version, state.Options{SnapshotInterval: 2})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			f, st := newOp(), open(0)
			for i := range 3 {
				if diff := cmp.Diff(want[i], f.mustBatch(aggEventInfo(mode, i, wms[i]), st, batches[i])); diff != "" {
					t.Errorf("batch %d (-want +got):\n%s", i, diff)
				}
				if err := st.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			_ = st.Close()
			// Batch 2 committed its state but not itself: replay it from version 2.
			f, st = newOp(), open(2)
			defer st.Close()
			for i := 2; i < len(batches); i++ {
				if diff := cmp.Diff(want[i], f.mustBatch(aggEventInfo(mode, i, wms[i]), st, batches[i])); diff != "" {
					t.Errorf("replayed batch %d (-want +got):\n%s", i, diff)
				}
				if err := st.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := st.Metrics().NumKeys, refSt.Metrics().NumKeys; got != want {
				t.Errorf("%d keys in the state; want %d", got, want)
			}
		})
	}
}

// TestAggregateOutputSchemaErrors checks the messages of plans OutputSchema refuses.
func TestAggregateOutputSchemaErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "word", Type: arrow.BinaryTypes.String},
		{Name: "bytes", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Metadata: aggMeta("1000")},
	}, nil)
	c := operators.Count("*")
	cases := []struct {
		name   string
		keys   []string
		aggs   []operators.Agg
		opts   operators.Options
		schema *arrow.Schema
	}{
		{name: "unknown input schema", keys: []string{"word"}, aggs: []operators.Agg{c}},
		{name: "unknown key column", keys: []string{"wrd"}, aggs: []operators.Agg{c}, schema: schema},
		{name: "unknown aggregate column", keys: []string{"word"}, aggs: []operators.Agg{operators.Sum("byts")}, schema: schema},
		{name: "sum of a string", keys: []string{"word"}, aggs: []operators.Agg{operators.Sum("word")}, schema: schema},
		{name: "avg of a bool", keys: []string{"word"}, aggs: []operators.Agg{operators.Avg("ok")}, schema: schema},
		{name: "max of a list", keys: []string{"word"}, aggs: []operators.Agg{operators.Max("tags")}, schema: schema},
		{name: "no aggregates", keys: []string{"word"}, schema: schema},
		{name: "duplicate names", keys: []string{"word"}, aggs: []operators.Agg{c, operators.Count("bytes").As("word"), operators.Count("*")}, schema: schema},
		{name: "sum of star", keys: []string{"word"}, aggs: []operators.Agg{operators.Sum("*")}, schema: schema},
		{name: "empty expression", keys: []string{"word", " "}, aggs: []operators.Agg{operators.Min("")}, schema: schema},
		{name: "zero Agg", keys: []string{"word"}, aggs: []operators.Agg{{}}, schema: schema},
		{name: "list key", keys: []string{"tags"}, aggs: []operators.Agg{c}, schema: schema},
		{name: "watermark on an integer key", keys: []string{"n"}, aggs: []operators.Agg{c}, schema: schema},
		{name: "error column policy", keys: []string{"word"}, aggs: []operators.Agg{c}, opts: operators.Options{OnError: operators.ErrorColumn("err")}, schema: schema},
	}
	var b strings.Builder
	for _, tc := range cases {
		op := operators.Aggregate(tc.keys, tc.aggs, tc.opts)
		_, err := op.OutputSchema(tc.schema)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		fmt.Fprintf(&b, "== %s: %s\n%s\n\n", tc.name, op.Name(), err)
	}
	golden.Check(t, "aggregate_errors.golden", b.String())
}

// TestAggregateSumOverflow fails the batch, naming the group, when a sum of integers
// overflows, within a batch or across batches.
func TestAggregateSumOverflow(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	}, nil)
	big := aggRecord(mem, schema, []any{"a", "b", "a"}, []any{int64(math.MaxInt64 - 1), int64(1), int64(5)}, []any{uint64(1), uint64(1), uint64(1)})
	defer big.Release()
	small := aggRecord(mem, schema, []any{"b", "a"}, []any{int64(math.MinInt64), int64(2)}, []any{uint64(math.MaxUint64), uint64(1)})
	defer small.Release()

	f := newAggFixture(t, mem, operators.Aggregate([]string{"k"}, []operators.Agg{operators.Sum("v")}, operators.Options{}), schema)
	_, err := f.batch(aggUpdate, newAggMapStore(), false, big)
	if err == nil || !strings.Contains(err.Error(), `sum(v) in the group k="a": the sum overflows int64`) {
		t.Errorf("within a batch: %v", err)
	}

	st := newAggMapStore()
	first := aggRecord(mem, schema, []any{"a"}, []any{int64(math.MaxInt64 - 1)}, []any{nil})
	defer first.Release()
	f.mustBatch(aggUpdate, st, first)
	_ = st.Commit(context.Background())
	_, err = f.batch(aggUpdate, st, false, small)
	if err == nil || !strings.Contains(err.Error(), `the group k="a"`) || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("across batches: %v", err)
	}

	f = newAggFixture(t, mem, operators.Aggregate([]string{"k"}, []operators.Agg{operators.Sum("u")}, operators.Options{}), schema)
	_, err = f.batch(aggUpdate, newAggMapStore(), false, small)
	if err == nil || !strings.Contains(err.Error(), `sum(u) in the group k="b"`) {
		t.Errorf("uint64 beyond int64: %v", err)
	}
}

// TestAggregateRowErrors applies the error policy to rows whose expressions fail.
func TestAggregateRowErrors(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	in := aggRecord(mem, schema, []any{"a", "a", "b", "b"}, []any{int64(1), int64(0), int64(2), int64(5)})
	defer in.Release()
	aggs := []operators.Agg{operators.Sum("10 / n"), operators.Count("*")}

	f := newAggFixture(t, mem, operators.Aggregate([]string{"k"}, aggs, operators.Options{}), schema)
	_, err := f.batch(aggUpdate, newAggMapStore(), false, in)
	var re *operators.RowError
	if !errors.As(err, &re) || re.Row != 1 {
		t.Errorf("FailBatch: %v", err)
	}

	var aside [][]any
	side := operators.SideOutput(func(_ context.Context, b arrow.RecordBatch) error {
		aside = append(aside, aggRows(b)...)
		return nil
	})
	f = newAggFixture(t, mem, operators.Aggregate([]string{"k"}, aggs, operators.Options{OnError: side}), schema)
	got := f.mustBatch(aggUpdate, newAggMapStore(), in)
	if diff := cmp.Diff([][]any{{"a", int64(10), int64(1)}, {"b", int64(7), int64(2)}}, got); diff != "" {
		t.Errorf("SideOutput: output (-want +got):\n%s", diff)
	}
	if len(aside) != 1 || aside[0][0] != "a" || aside[0][1] != int64(0) || !strings.Contains(fmt.Sprint(aside[0][2]), "division by zero") {
		t.Errorf("SideOutput: rows aside %v", aside)
	}
}

// TestAggregateName checks Explain's description and the aggregates' names.
func TestAggregateName(t *testing.T) {
	op := operators.Aggregate([]string{"word"}, []operators.Agg{operators.Count("*")}, operators.Options{})
	if got, want := op.Name(), "Aggregate(keys=[word], aggs=[count(1)])"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	op = operators.Aggregate([]string{"lower(w) AS word", "n"},
		[]operators.Agg{operators.Sum("bytes").As("total"), operators.Count("x"), operators.ApproxCountDistinct("user")}, operators.Options{})
	if got, want := op.Name(), "Aggregate(keys=[lower(w) AS word, n], aggs=[sum(bytes) AS total, count(x), approx_count_distinct(user)])"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	for _, c := range []struct {
		agg  operators.Agg
		name string
	}{
		{operators.Count("*"), "count(1)"}, {operators.Count("*").As("count"), "count"}, {operators.Count("x"), "count(x)"}, {operators.Sum("x"), "sum(x)"},
		{operators.Min("x"), "min(x)"}, {operators.Max("x"), "max(x)"}, {operators.Avg("x"), "avg(x)"},
		{operators.ApproxCountDistinct("x"), "approx_count_distinct(x)"}, {operators.First("x"), "first(x)"},
		{operators.Last("x"), "last(x)"}, {operators.Last("x").As("y"), "y"},
	} {
		if got := c.agg.Name(); got != c.name {
			t.Errorf("%v.Name() = %q; want %q", c.agg, got, c.name)
		}
	}
	var op2 operators.Operator = operators.Aggregate([]string{"w"}, []operators.Agg{operators.Count("*")}, operators.Options{})
	if _, err := op2.OutputSchema(nil); err == nil || !strings.Contains(err.Error(), "needs a known input schema") {
		t.Errorf("OutputSchema(nil): %v", err)
	}
}

// TestAggregateProperty checks that random rows cut into random micro-batches and Process
// calls aggregate as in one shot, in complete and in update mode.
func TestAggregateProperty(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	aggs := []operators.Agg{
		operators.Count("*"), operators.Count("v"), operators.Sum("v"), operators.Sum("f"), operators.Avg("f"),
		operators.Min("s"), operators.Max("v"), operators.First("s"), operators.Last("f"), operators.ApproxCountDistinct("v"),
	}
	const approx = 2 + 9
	for trial := range 25 {
		r := rand.New(rand.NewPCG(uint64(trial), 99))
		n := 50 + r.IntN(1500)
		cols := make([][]any, 5)
		for c := range cols {
			cols[c] = make([]any, n)
		}
		for i := range n {
			if r.IntN(10) > 0 {
				cols[0][i] = int64(r.IntN(8))
			}
			if r.IntN(10) > 0 {
				cols[1][i] = aggStrings[r.IntN(4)]
			}
			if r.IntN(6) > 0 {
				cols[2][i] = r.Int64N(1e9) - 5e8
			}
			if r.IntN(6) > 0 {
				cols[3][i] = float64(r.IntN(1e6)) / 64 // exact sums in any order
			}
			if r.IntN(6) > 0 {
				cols[4][i] = aggStrings[r.IntN(len(aggStrings))]
			}
		}
		in := aggRecord(mem, schema, cols...)
		newF := func() *aggFixture {
			return newAggFixture(t, mem, operators.Aggregate([]string{"a", "b"}, aggs, operators.Options{}), schema)
		}
		want := newF().mustBatch(aggComplete, newAggMapStore(), in)
		// Cut the rows into micro-batches, and each micro-batch into Process calls.
		var cuts []int64
		for range r.IntN(6) {
			cuts = append(cuts, r.Int64N(int64(n)+1))
		}
		cuts = append(cuts, 0, int64(n))
		slices.Sort(cuts)
		for _, mode := range []string{operators.ModeComplete, operators.ModeUpdate} {
			f, st := newF(), newAggMapStore()
			latest := map[string][]any{}
			var got [][]any
			for m := 0; m+1 < len(cuts); m++ {
				mb := in.NewSlice(cuts[m], cuts[m+1])
				parts := aggSlices(mb, 1+r.IntN(4))
				mb.Release()
				got = f.mustBatch(operators.BatchInfo{ID: int64(m), Mode: mode}, st, parts...)
				aggRelease(parts)
				_ = st.Commit(context.Background())
				for _, row := range got {
					latest[fmt.Sprintf("%#v", row[:2])] = row
				}
			}
			if mode == operators.ModeUpdate {
				got = nil
				for _, row := range latest {
					got = append(got, row)
				}
				aggSortRows(got, 2)
			}
			aggCheckApprox(t, got, want, approx)
			if diff := cmp.Diff(want, got, aggFloats); diff != "" {
				t.Errorf("trial %d, %s mode, cuts %v (-one shot +split):\n%s", trial, mode, cuts, diff)
			}
		}
		in.Release()
	}
}

// TestAggregateApproxCountDistinct checks the estimate of a large count whose sketches are
// merged through the store.
func TestAggregateApproxCountDistinct(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	const n = 200_000
	vals := make([]any, n)
	for i := range vals {
		vals[i] = int64(i % (n / 2)) // n/2 distinct values, each twice
	}
	in := aggRecord(mem, schema, vals)
	defer in.Release()
	f := newAggFixture(t, mem, operators.Aggregate(nil, []operators.Agg{operators.ApproxCountDistinct("v"), operators.Count("*")}, operators.Options{}), schema)
	st := newAggMapStore()
	parts := aggSlices(in, 4)
	defer aggRelease(parts)
	var got [][]any
	for _, p := range parts {
		got = f.mustBatch(aggComplete, st, p)
		_ = st.Commit(context.Background())
	}
	if len(got) != 1 || got[0][1] != int64(n) {
		t.Fatalf("got %v", got)
	}
	est := float64(got[0][0].(int64))
	if rel := math.Abs(est-n/2) / (n / 2); rel > 3*0.05 {
		t.Errorf("estimate %v of %d distinct values: relative error %.3f", est, n/2, rel)
	}
}

// TestAggregateManyGroups emits more groups than one output batch holds, in key order.
func TestAggregateManyGroups(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	const n = 70_000
	keys := make([]any, n)
	for i := range keys {
		keys[i] = int64((i*7919)%n - n/2)
	}
	in := aggRecord(mem, schema, keys)
	defer in.Release()
	f := newAggFixture(t, mem, operators.Aggregate([]string{"k"}, []operators.Agg{operators.Count("*")}, operators.Options{}), schema)
	got := f.mustBatch(aggUpdate, newAggMapStore(), in)
	if len(got) != n {
		t.Fatalf("%d rows; want %d", len(got), n)
	}
	for i, row := range got {
		if row[0] != int64(i-n/2) || row[1] != int64(1) {
			t.Fatalf("row %d is %v", i, row)
		}
	}
}

// BenchmarkAggregate measures GroupBy(word).Count() over 1M rows in one micro-batch of 16
// batches processed concurrently, with 1M and with 1k distinct words, on the memory state
// store; it reports rows/s and the state's bytes per key.
func BenchmarkAggregate(b *testing.B) {
	const rows, parts = 1 << 20, 16
	schema := arrow.NewSchema([]arrow.Field{{Name: "word", Type: arrow.BinaryTypes.String}}, nil)
	for _, keys := range []int{1 << 20, 1000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			mem := memory.NewGoAllocator()
			var ins []arrow.RecordBatch
			for p := range parts {
				wb := array.NewStringBuilder(mem)
				var word []byte
				for i := range rows / parts {
					word = strconv.AppendInt(append(word[:0], "word"...), int64(((p*rows/parts+i)*7919)%keys), 10)
					wb.BinaryBuilder.Append(word)
				}
				col := wb.NewArray()
				wb.Release()
				ins = append(ins, array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len())))
				col.Release()
			}
			defer aggRelease(ins)
			loc, err := checkpoint.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			op := operators.Aggregate([]string{"word"}, []operators.Agg{operators.Count("*")}, operators.Options{})
			f := newAggFixture(b, mem, op, schema)
			f.discard = true
			var m operators.StateMetrics
			ctx := operators.WithAllocator(context.Background(), mem)
			for b.Loop() {
				st, err := state.Open(ctx, loc, "state", 0, state.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.batch(aggUpdate, st, true, ins...); err != nil {
					b.Fatal(err)
				}
				m = f.op.StateMetrics()
				_ = st.Close()
			}
			if m.NumRowsTotal != int64(keys) {
				b.Fatalf("%d keys in the state; want %d", m.NumRowsTotal, keys)
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(m.MemoryUsedBytes)/float64(m.NumRowsTotal), "stateB/key")
		})
	}
}
