package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/pipeline"
)

// TestPanicsFailTheBatch: a panic in user code (a MapBatch function, a ForeachBatch,
// ForeachTable or Foreach sink) fails the batch with a BatchError naming the stage and
// holding a PanicError, instead of crashing the process; the same pipeline then runs another
// query.
func TestPanicsFailTheBatch(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // a failed query keeps its temporary checkpoint
	for _, tt := range []struct {
		name  string
		build func(s *pipeline.Stream) *pipeline.DataStreamWriter
		stage string
	}{
		{"MapBatch", func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.MapBatch(func(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) { panic("mb panic") }).
				WriteStream().Format("console")
		}, "operator MapBatch"},
		{"ForeachBatch", func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.WriteStream().ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { panic("fb panic") })
		}, "sink ForeachBatchSink"},
		{"ForeachTable", func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.WriteStream().ForeachTable(func(context.Context, arrow.Table, int64) error { panic("ft panic") })
		}, "sink ForeachTableSink"},
		{"Foreach", func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.WriteStream().Foreach(pipeline.ForeachFunc(func(context.Context, pipeline.Row) error { panic("fe panic") }))
		}, "sink ForeachSink"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
			defer p.Close(context.Background())
			q, err := tt.build(p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load()).
				Option("checkpointLocation", t.TempDir()).Trigger(pipeline.Once()).Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			err = await(t, q)
			var be *pipeline.BatchError
			var pe *pipeline.PanicError
			if !errors.As(err, &be) || be.Stage != tt.stage || !errors.As(err, &pe) || !strings.Contains(err.Error(), "panic: ") || len(pe.Stack) == 0 {
				t.Fatalf("got %v; want a BatchError of stage %q holding a PanicError with its stack", err, tt.stage)
			}
			// The process and the pipeline are still fine.
			q, err = p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
				WriteStream().Format("console").Trigger(pipeline.Once()).Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := await(t, q); err != nil {
				t.Fatalf("a query after the panic: %v", err)
			}
		})
	}
}
