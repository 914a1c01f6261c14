package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/operators"
)

// The CEL benchmark filters and projects 10,000 JSON records of about 1 KB held in one Arrow
// batch: the raw document (data) and its fields, parsed by FromJSON as a Kinesis query would.
const (
	celRows   = 10_000
	celFilter = `level == "error" && latency_ms > 250.0 && device.startsWith("sensor-1")`
)

var celProjection = []string{
	"id",
	"latency_ms * 1000.0 AS latency_us",
	"size(data) AS bytes",
	`region + "/" + device AS key`,
}

var celJSONSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "device", Type: arrow.BinaryTypes.String},
	{Name: "level", Type: arrow.BinaryTypes.String},
	{Name: "latency_ms", Type: arrow.PrimitiveTypes.Float64},
	{Name: "region", Type: arrow.BinaryTypes.String},
	{Name: "message", Type: arrow.BinaryTypes.String},
}, nil)

// celDocs returns n JSON documents of about 1 KB.
func celDocs(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"debug", "info", "warn", "error"}
	regions := []string{"eu-west-1", "us-east-1", "ap-south-1"}
	docs := make([][]byte, n)
	for i := range docs {
		d := fmt.Sprintf(`{"id": %d, "device": "sensor-%d", "level": %q, "latency_ms": %.3f, "region": %q, "message": %q}`,
			i, r.IntN(40), levels[r.IntN(4)], r.Float64()*500, regions[r.IntN(3)], strings.Repeat("lorem ipsum ", 75+r.IntN(10)))
		docs[i] = []byte(d)
	}
	return docs
}

// celBatch returns the benchmark's batch: data, then the parsed fields.
func celBatch(tb testing.TB, mem memory.Allocator) arrow.RecordBatch {
	docs := celDocs(celRows)
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer b.Release()
	for _, d := range docs {
		b.Append(d)
	}
	data := b.NewArray()
	defer data.Release()
	p, err := arrowbatch.NewJSONParser(celJSONSchema)
	if err != nil {
		tb.Fatal(err)
	}
	cols, failed, err := p.ParseColumn(mem, data)
	if err != nil || len(failed) > 0 {
		tb.Fatalf("parse: %v %v", err, failed)
	}
	fields := append([]arrow.Field{{Name: "data", Type: arrow.BinaryTypes.Binary}}, celJSONSchema.Fields()...)
	all := append([]arrow.Array{data}, cols...)
	batch := array.NewRecordBatch(arrow.NewSchema(fields, nil), all, int64(data.Len()))
	for _, c := range cols {
		c.Release()
	}
	return batch
}

// celPrograms compiles the filter and the projection.
func celPrograms(tb testing.TB, schema *arrow.Schema) (*expr.Program, []*expr.Program, []string) {
	env := expr.NewEnv()
	filter, err := env.Compile(schema, celFilter)
	if err != nil {
		tb.Fatal(err)
	}
	var progs []*expr.Program
	var names []string
	for _, item := range celProjection {
		src, name, _ := strings.Cut(item, " AS ")
		if name == "" {
			name = src
		}
		p, err := env.Compile(schema, src)
		if err != nil {
			tb.Fatal(err)
		}
		if len(p.RowWise()) > 0 || len(filter.RowWise()) > 0 {
			tb.Fatalf("the benchmark's expressions must run column-wise: %v %v", p.RowWise(), filter.RowWise())
		}
		progs = append(progs, p)
		names = append(names, name)
	}
	return filter, progs, names
}

type evalFunc func(p *expr.Program, ctx context.Context, b arrow.RecordBatch) (arrow.Array, []*expr.EvalError, error)

// celFilterProject filters batch and projects the rows kept, evaluating with eval.
func celFilterProject(ctx context.Context, batch arrow.RecordBatch, filter *expr.Program, progs []*expr.Program, names []string, eval evalFunc) (arrow.RecordBatch, error) {
	cond, _, err := eval(filter, ctx, batch)
	if err != nil {
		return nil, err
	}
	defer cond.Release()
	mask := cond.(*array.Boolean)
	var rows []int
	for i := range mask.Len() {
		if mask.IsValid(i) && mask.Value(i) {
			rows = append(rows, i)
		}
	}
	kept, err := arrowbatch.TakeRows(compute.GetAllocator(ctx), batch, rows)
	if err != nil {
		return nil, err
	}
	defer kept.Release()
	cols := make([]arrow.Array, len(progs))
	fields := make([]arrow.Field, len(progs))
	for i, p := range progs {
		arr, _, err := eval(p, ctx, kept)
		if err != nil {
			return nil, err
		}
		defer arr.Release()
		cols[i] = arr
		fields[i] = arrow.Field{Name: names[i], Type: arr.DataType(), Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, kept.NumRows()), nil
}

// celHandWritten does the same as the expressions in a Go loop over the same Arrow columns.
func celHandWritten(mem memory.Allocator, batch arrow.RecordBatch) arrow.RecordBatch {
	data := batch.Column(0).(*array.Binary)
	id := batch.Column(1).(*array.Int64)
	device := batch.Column(2).(*array.String)
	level := batch.Column(3).(*array.String)
	latency := batch.Column(4).(*array.Float64)
	region := batch.Column(5).(*array.String)
	ids := array.NewInt64Builder(mem)
	defer ids.Release()
	us := array.NewFloat64Builder(mem)
	defer us.Release()
	sizes := array.NewInt64Builder(mem)
	defer sizes.Release()
	keys := array.NewStringBuilder(mem)
	defer keys.Release()
	var key []byte
	for i := range int(batch.NumRows()) {
		if level.Value(i) != "error" || !(latency.Value(i) > 250) || !strings.HasPrefix(device.Value(i), "sensor-1") {
			continue
		}
		ids.Append(id.Value(i))
		us.Append(latency.Value(i) * 1000)
		sizes.Append(int64(len(data.Value(i))))
		key = append(append(append(key[:0], region.Value(i)...), '/'), device.Value(i)...)
		keys.BinaryBuilder.Append(key)
	}
	cols := []arrow.Array{ids.NewArray(), us.NewArray(), sizes.NewArray(), keys.NewArray()}
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "latency_us", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "bytes", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "key", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	return out
}

func renderBatch(b arrow.RecordBatch) []string {
	var out []string
	for i := range int(b.NumRows()) {
		var cells []string
		for _, c := range b.Columns() {
			cells = append(cells, arrowbatch.FormatValue(c, i))
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return out
}

// TestCELBenchmarkAgrees: the three ways the benchmark compares compute the same rows, and
// release all their memory.
func TestCELBenchmarkAgrees(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	batch := celBatch(t, mem)
	defer batch.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	filter, progs, names := celPrograms(t, batch.Schema())
	hand := celHandWritten(mem, batch)
	defer hand.Release()
	want := renderBatch(hand)
	if len(want) < 100 {
		t.Fatalf("only %d rows pass the filter", len(want))
	}
	for name, eval := range map[string]evalFunc{"column-wise": (*expr.Program).Eval, "per-row": (*expr.Program).EvalRowWise} {
		got, err := celFilterProject(ctx, batch, filter, progs, names, eval)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, renderBatch(got)); diff != "" {
			t.Errorf("%s differs from the Go loop (-loop +%s):\n%s", name, name, diff)
		}
		got.Release()
	}
}

// BenchmarkCEL reports rows/s of the filter and projection, evaluated column-wise, per row by
// cel-go, and by a hand-written Go loop; and, for scale, of the operators (Filter then Select,
// as a query runs them) and of parsing the JSON documents.
func BenchmarkCEL(b *testing.B) {
	mem := memory.NewGoAllocator()
	batch := celBatch(b, mem)
	defer batch.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	filter, progs, names := celPrograms(b, batch.Schema())
	report := func(b *testing.B) {
		b.ReportMetric(float64(celRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	for _, m := range []struct {
		name string
		eval evalFunc
	}{{"column-wise", (*expr.Program).Eval}, {"per-row", (*expr.Program).EvalRowWise}} {
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
				out, err := celFilterProject(ctx, batch, filter, progs, names, m.eval)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			report(b)
		})
	}
	b.Run("go-loop", func(b *testing.B) {
		for b.Loop() {
			celHandWritten(mem, batch).Release()
		}
		report(b)
	})
	b.Run("operators", func(b *testing.B) {
		octx := operators.WithAllocator(context.Background(), mem)
		f := operators.Filter(celFilter, operators.Options{})
		s := operators.Select(celProjection, operators.Options{})
		if _, err := f.OutputSchema(batch.Schema()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			err := f.Process(octx, batch, func(kept arrow.RecordBatch) error {
				return s.Process(octx, kept, func(arrow.RecordBatch) error { return nil })
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("parse-json", func(b *testing.B) {
		p, _ := arrowbatch.NewJSONParser(celJSONSchema)
		for b.Loop() {
			cols, _, err := p.ParseColumn(mem, batch.Column(0))
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range cols {
				c.Release()
			}
		}
		report(b)
	})
}
