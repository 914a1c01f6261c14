package expr_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/expr"
)

// BenchmarkSplit evaluates WordCount's split over 1 KB lines, column-wise (the kernel) and row
// by row with cel-go (what the expression cost before the kernel).
func BenchmarkSplit(b *testing.B) {
	const rows = 1024
	schema := arrow.NewSchema([]arrow.Field{{Name: "line", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(b, 0)
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("The quick brown Fox jumps over the lazy dog and Runs far away from Home")
	sb := array.NewStringBuilder(mem)
	var line strings.Builder
	for range rows {
		line.Reset()
		for line.Len() < 1024 {
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(words[r.IntN(len(words))])
		}
		sb.Append(line.String())
	}
	col := sb.NewArray()
	sb.Release()
	batch := array.NewRecordBatch(schema, []arrow.Array{col}, rows)
	col.Release()
	defer batch.Release()
	ctx := context.Background()
	for _, src := range []string{`line.split(" ")`, `line.lowerAscii().split(" ")`} {
		p, err := expr.NewEnv().Compile(schema, src)
		if err != nil {
			b.Fatal(err)
		}
		for _, mode := range []struct {
			name string
			eval func(context.Context, arrow.RecordBatch) (arrow.Array, []*expr.EvalError, error)
		}{{"column-wise", p.Eval}, {"row-wise", p.EvalRowWise}} {
			b.Run(src+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(col.(*array.String).ValueBytes())))
				for b.Loop() {
					out, _, err := mode.eval(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
				}
				b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
