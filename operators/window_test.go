package operators_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/operators"
)

// evWindowRows runs op over in and renders each output row as "id n [start, end)", the
// window's bounds as durations since the epoch, or "id n NULL".
func evWindowRows(t *testing.T, mem memory.Allocator, op operators.Operator, in arrow.RecordBatch) []string {
	t.Helper()
	declared, err := op.OutputSchema(in.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	ctx := operators.WithAllocator(context.Background(), mem)
	err = op.Process(ctx, in, func(b arrow.RecordBatch) error {
		if !b.Schema().Equal(declared) {
			t.Errorf("emitted schema %s; OutputSchema said %s", b.Schema(), declared)
		}
		ids := b.Column(0).(*array.String)
		ns := b.Column(2).(*array.Int64)
		win := b.Column(int(b.NumCols()) - 1).(*array.Struct)
		start := win.Field(0).(*array.Timestamp)
		end := win.Field(1).(*array.Timestamp)
		for i := range int(b.NumRows()) {
			r := ids.Value(i) + " " + strconv.FormatInt(ns.Value(i), 10) + " "
			if win.IsNull(i) {
				if start.IsValid(i) || end.IsValid(i) {
					t.Errorf("row %d: a null window with a non-null start or end", i)
				}
				rows = append(rows, r+"NULL")
				continue
			}
			rows = append(rows, r+evSpan(int64(start.Value(i)), int64(end.Value(i))))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// evSpan renders a window of Unix microseconds.
func evSpan(start, end int64) string {
	return "[" + (time.Duration(start) * time.Microsecond).String() + ", " + (time.Duration(end) * time.Microsecond).String() + ")"
}

func TestWindowBoundaries(t *testing.T) {
	const s = int64(time.Second / time.Microsecond)
	tests := []struct {
		name        string
		size, slide time.Duration
		unit        arrow.TimeUnit
		times       []*int64
		want        []string
	}{
		{
			name: "tumbling", size: 10 * time.Second, unit: arrow.Microsecond,
			times: []*int64{evPtr(0), evPtr(10*s - 1), evPtr(10 * s), evPtr(-1), evPtr(-10 * s), nil, evPtr(-10*s - 1)},
			want: []string{
				"r0 0 [0s, 10s)",
				"r1 1 [0s, 10s)",
				"r2 2 [10s, 20s)",
				"r3 3 [-10s, 0s)",
				"r4 4 [-10s, 0s)",
				"r6 6 [-20s, -10s)", // r5's time is null: no window, dropped
			},
		},
		{
			name: "tumbling, slide == size", size: time.Minute, slide: time.Minute, unit: arrow.Second,
			times: []*int64{evPtr(59), evPtr(60), evPtr(-60), evPtr(-61)},
			want:  []string{"r0 0 [0s, 1m0s)", "r1 1 [1m0s, 2m0s)", "r2 2 [-1m0s, 0s)", "r3 3 [-2m0s, -1m0s)"},
		},
		{
			name: "sliding, latest window first", size: 10 * time.Second, slide: 5 * time.Second, unit: arrow.Microsecond,
			times: []*int64{evPtr(5 * s), evPtr(5*s - 1), nil, evPtr(-5 * s), evPtr(0)},
			want: []string{
				"r0 0 [5s, 15s)", "r0 0 [0s, 10s)",
				"r1 1 [0s, 10s)", "r1 1 [-5s, 5s)",
				"r3 3 [-5s, 5s)", "r3 3 [-10s, 0s)",
				"r4 4 [0s, 10s)", "r4 4 [-5s, 5s)",
			},
		},
		{
			name: "sliding, slide does not divide size", size: 10 * time.Second, slide: 3 * time.Second, unit: arrow.Millisecond,
			times: []*int64{evPtr(0), evPtr(1000), evPtr(-1)},
			want: []string{
				"r0 0 [0s, 10s)", "r0 0 [-3s, 7s)", "r0 0 [-6s, 4s)", "r0 0 [-9s, 1s)",
				"r1 1 [0s, 10s)", "r1 1 [-3s, 7s)", "r1 1 [-6s, 4s)",
				"r2 2 [-3s, 7s)", "r2 2 [-6s, 4s)", "r2 2 [-9s, 1s)",
			},
		},
		{
			name: "nanoseconds", size: time.Second, unit: arrow.Nanosecond,
			times: []*int64{evPtr(-1), evPtr(999_999_999), evPtr(1_000_000_000), evPtr(1_000_000_999)},
			want:  []string{"r0 0 [-1s, 0s)", "r1 1 [0s, 1s)", "r2 2 [1s, 2s)", "r3 3 [1s, 2s)"},
		},
		{
			name: "milliseconds, 1700000000.5 s", size: time.Hour, slide: 30 * time.Minute, unit: arrow.Millisecond,
			times: []*int64{evPtr(1_700_000_000_500)},
			want:  []string{"r0 0 [472222h0m0s, 472223h0m0s)", "r0 0 [472221h30m0s, 472222h30m0s)"},
		},
		{
			name: "nulls only, sliding", size: 2 * time.Second, slide: time.Second, unit: arrow.Microsecond,
			times: []*int64{nil, nil},
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			in := evTimes(mem, evSchema(tt.unit), tt.times)
			defer in.Release()
			got := evWindowRows(t, mem, operators.Window("ts", tt.size, tt.slide, operators.Options{}), in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// evReferenceWindows lists the windows [k*slide, k*slide+size) that contain t (µs), latest
// first, by trying every k near t/slide.
func evReferenceWindows(t, size, slide int64) [][2]int64 {
	var out [][2]int64
	hi := int64(math.Floor(float64(t)/float64(slide))) + 2
	lo := int64(math.Floor(float64(t-size)/float64(slide))) - 2
	for k := hi; k >= lo; k-- {
		if start := k * slide; start <= t && t < start+size {
			out = append(out, [2]int64{start, start + size})
		}
	}
	return out
}

// TestWindowMatchesReference: sizes from 1s to 1h, tumbling and sliding, every time unit,
// random times and times on and around boundaries, against evReferenceWindows.
func TestWindowMatchesReference(t *testing.T) {
	shapes := []struct{ size, slide time.Duration }{
		{time.Second, 0},
		{time.Second, time.Second},
		{time.Second, 250 * time.Millisecond},
		{10 * time.Second, 5 * time.Second},
		{10 * time.Second, 3 * time.Second},
		{time.Minute, 7 * time.Second},
		{5 * time.Minute, time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{time.Hour, 0},
		{time.Hour, 15 * time.Minute},
		{time.Hour, 7 * time.Minute},
	}
	units := []struct {
		unit  arrow.TimeUnit
		perUs float64 // units per µs
		span  int64   // random times in ±span units
	}{
		{arrow.Second, 1e-6, 4e9},
		{arrow.Millisecond, 1e-3, 4e12},
		{arrow.Microsecond, 1, 4e15},
		{arrow.Nanosecond, 1e3, 4e15}, // float64 stays exact in the reference
	}
	for _, sh := range shapes {
		for _, u := range units {
			name := sh.size.String() + "/" + sh.slide.String() + "/" + u.unit.String()
			t.Run(name, func(t *testing.T) {
				mem := testkit.CheckedAlloc(t)
				size, slide := sh.size.Microseconds(), sh.slide.Microseconds()
				if slide == 0 {
					slide = size
				}
				rng := rand.New(rand.NewPCG(uint64(size), uint64(slide)+uint64(u.unit)))
				var times []*int64
				for range 150 {
					switch rng.IntN(4) {
					case 0:
						times = append(times, nil)
					case 1: // on or next to a boundary (in the unit's precision)
						k := rng.Int64N(2001) - 1000
						us := k * slide
						if u.unit == arrow.Second && us%1e6 != 0 {
							us -= us % 1e6
						}
						v := int64(float64(us) * u.perUs)
						v += rng.Int64N(3) - 1
						times = append(times, &v)
					default:
						v := rng.Int64N(2*u.span) - u.span
						times = append(times, &v)
					}
				}
				in := evTimes(mem, evSchema(u.unit), times)
				defer in.Release()
				got := evWindowRows(t, mem, operators.Window("ts", sh.size, sh.slide, operators.Options{}), in)
				var want []string
				for i, v := range times {
					prefix := "r" + strconv.Itoa(i) + " " + strconv.Itoa(i) + " "
					if v == nil {
						continue // dropped, as Spark's window() drops null times
					}
					us := int64(math.Floor(float64(*v) / u.perUs))
					if u.unit == arrow.Second {
						us = *v * 1e6
					}
					for _, w := range evReferenceWindows(us, size, slide) {
						want = append(want, prefix+evSpan(w[0], w[1]))
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestWindowTumblingZeroCopy: tumbling windows pass the input's columns through.
func TestWindowTumblingZeroCopy(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	in := evTimes(mem, evSchema(arrow.Microsecond), []*int64{evPtr(1), evPtr(2), evPtr(3)})
	defer in.Release()
	op := operators.Window("ts", time.Minute, 0, operators.Options{})
	if _, err := op.OutputSchema(in.Schema()); err != nil {
		t.Fatal(err)
	}
	ctx := operators.WithAllocator(context.Background(), mem)
	err := op.Process(ctx, in, func(b arrow.RecordBatch) error {
		for i := range int(in.NumCols()) {
			if b.Column(i) != in.Column(i) {
				t.Errorf("column %d was copied", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWindowSchema(t *testing.T) {
	in := evSchema(arrow.Millisecond)
	marked, err := operators.WithWatermark("ts", 10*time.Second).OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	wantType := arrow.StructOf(
		arrow.Field{Name: "start", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		arrow.Field{Name: "end", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	)
	tests := []struct {
		name  string
		op    operators.Operator
		in    *arrow.Schema
		title string
		delay string // the window's WatermarkDelayKey, or ""
	}{
		{"tumbling", operators.Window("ts", 10*time.Minute, 0, operators.Options{}), in, "Window(ts, 10m0s)", ""},
		{"sliding", operators.Window("ts", 10*time.Minute, 5*time.Minute, operators.Options{}), in, "Window(ts, 10m0s, 5m0s)", ""},
		{"after WithWatermark", operators.Window("ts", 10*time.Minute, 5*time.Minute, operators.Options{}), marked, "Window(ts, 10m0s, 5m0s)", "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.op.Name(); got != tt.title {
				t.Errorf("Name() = %q; want %q", got, tt.title)
			}
			out, err := tt.op.OutputSchema(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if out.NumFields() != tt.in.NumFields()+1 {
				t.Fatalf("output %s", out)
			}
			for i := range tt.in.NumFields() {
				if !out.Field(i).Equal(tt.in.Field(i)) {
					t.Errorf("field %d changed: %v -> %v", i, tt.in.Field(i), out.Field(i))
				}
			}
			w := out.Field(tt.in.NumFields())
			if w.Name != "window" || !arrow.TypeEqual(w.Type, wantType) || !w.Nullable {
				t.Errorf("window field %v; want a nullable %s named window", w, wantType)
			}
			d, _ := w.Metadata.GetValue(operators.WatermarkDelayKey)
			if d != tt.delay {
				t.Errorf("window delay %q; want %q", d, tt.delay)
			}
		})
	}
	if s, err := operators.Window("ts", time.Second, 0, operators.Options{}).OutputSchema(nil); s != nil || err != nil {
		t.Errorf("OutputSchema(nil) = %v, %v", s, err)
	}
}

func TestWindowErrors(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us},
	}, nil)
	withWindow := arrow.NewSchema(append(in.Fields(), arrow.Field{Name: "window", Type: arrow.BinaryTypes.String}), nil)
	tests := []struct {
		name        string
		col         string
		size, slide time.Duration
		in          *arrow.Schema
		wants       []string
	}{
		{"unknown column", "time", time.Second, 0, in, []string{`no column "time"`, "id, day, ts"}},
		{"a date", "day", time.Second, 0, in, []string{`"day" is of type date32`, "timestamp columns: ts"}},
		{"zero size", "ts", 0, 0, in, []string{"size 0s is not positive"}},
		{"negative size", "ts", -time.Second, 0, in, []string{"size -1s is not positive"}},
		{"negative slide", "ts", time.Second, -time.Second, in, []string{"slide -1s is negative"}},
		{"slide longer than size", "ts", time.Second, 2 * time.Second, in, []string{"slide 2s is longer than the size 1s"}},
		{"sub-microsecond", "ts", time.Second + time.Nanosecond, 0, in, []string{"whole microseconds"}},
		{"a window column exists", "ts", time.Second, 0, withWindow, []string{`already has a column named "window"`}},
		{"schema unknown, bad size", "ts", 0, 0, nil, []string{"size 0s is not positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := operators.Window(tt.col, tt.size, tt.slide, operators.Options{}).OutputSchema(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestWindowEmpty: an empty batch emits nothing.
func TestWindowEmpty(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	in := evTimes(mem, evSchema(arrow.Microsecond), nil)
	defer in.Release()
	for _, slide := range []time.Duration{0, time.Second} {
		got := evWindowRows(t, mem, operators.Window("ts", 2*time.Second, slide, operators.Options{}), in)
		if len(got) != 0 {
			t.Errorf("slide %s: %v", slide, got)
		}
	}
}

// TestWindowSlidingGathers: sliding windows repeat every column of a row, dictionary and
// nested columns included.
func TestWindowSlidingGathers(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := operators.WithAllocator(context.Background(), mem)
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_s, Nullable: true},
		{Name: "d", Type: dictType, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 1, 5}, nil)
	db := b.Field(1).(*array.BinaryDictionaryBuilder)
	for _, s := range []string{"x", "y", "x"} {
		if err := db.AppendString(s); err != nil {
			t.Fatal(err)
		}
	}
	lb := b.Field(2).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Int64Builder)
	lb.Append(true)
	vb.AppendValues([]int64{1, 2}, nil)
	lb.AppendNull()
	lb.Append(true)
	vb.Append(3)
	in := b.NewRecordBatch()
	defer in.Release()
	op := operators.Window("ts", 2*time.Second, time.Second, operators.Options{})
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := op.Process(ctx, in, func(out arrow.RecordBatch) error {
		for i := range int(out.NumRows()) {
			var cells []string
			for _, c := range out.Columns() {
				cells = append(cells, evCell(c, i))
			}
			got = append(got, strings.Join(cells, " "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0 x [1, 2] {0 2000000}", "0 x [1, 2] {-1000000 1000000}",
		"1 y NULL {1000000 3000000}", "1 y NULL {0 2000000}",
		"5 x [3] {5000000 7000000}", "5 x [3] {4000000 6000000}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}
