// Command crashy runs a rate → directory query for the process-level crash tests: the test
// kills it with SIGKILL at random moments and restarts it on the same checkpoint, then checks
// that the output holds every row exactly once.
//
// With -query it runs a stateful query over the rate-micro-batch source instead (one batch of
// -per-batch rows per trigger, event time advancing one second per batch):
//
//	update, complete  GroupBy(value % 37).Agg(count, sum, min, max) in that output mode
//	append            WithWatermark(timestamp, 1s), Window(timestamp, 2s), the same aggregates
//	dedup             DropDuplicates(value / 2), append
//
// Every mode's rows are written as JSON lines.
//
// The sink writes batch N to <out>/batch-N.jsonl atomically (temporary file, fsync, rename) at
// commit and reports the highest N present as its last batch, so it is idempotent.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks"
)

func main() {
	cp := flag.String("checkpoint", "", "checkpoint directory")
	out := flag.String("out", "", "output directory")
	rps := flag.String("rps", "2000", "rows per second")
	perBatch := flag.String("per-batch", "150", "max rows per batch")
	availableNow := flag.Bool("available-now", false, "process what is available, then exit")
	query := flag.String("query", "", "a stateful query: update, complete, append or dedup")
	flag.Parse()
	if err := run(*cp, *out, *rps, *perBatch, *availableNow, *query); err != nil {
		fmt.Fprintln(os.Stderr, "crashy:", err)
		os.Exit(1)
	}
}

func run(cp, out, rps, perBatch string, availableNow bool, query string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	trigger := pipeline.ProcessingTime(10 * time.Millisecond)
	if availableNow {
		trigger = pipeline.AvailableNow()
	}
	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	var w *pipeline.DataStreamWriter
	if query == "" {
		w = p.ReadStream().Format("rate").
			Option("rowsPerSecond", rps).Option("maxRowsPerBatch", perBatch).Option("numPartitions", "3").Load().
			WriteStream()
	} else {
		if !availableNow {
			trigger = pipeline.ProcessingTime(0) // a batch is always available
		}
		in := p.ReadStream().Format("rate-micro-batch").
			Option("rowsPerBatch", perBatch).Option("numPartitions", "3").Option("advanceMillisPerBatch", "1000").Load()
		aggs := []pipeline.Agg{pipeline.Count("*").As("count"), pipeline.Sum("value"), pipeline.Min("value").As("min"), pipeline.Max("value").As("max")}
		switch query {
		case "update", "complete":
			w = in.GroupBy("value % 37 AS key").Agg(aggs...).WriteStream().OutputMode(query)
		case "append":
			w = in.WithWatermark("timestamp", time.Second).Window("timestamp", 2*time.Second).
				GroupBy("window").Agg(aggs...).WriteStream().OutputMode("append")
		case "dedup":
			w = in.WithColumn("pair", "value / 2").DropDuplicates("pair").WriteStream()
		default:
			return fmt.Errorf("unknown -query %q", query)
		}
	}
	q, err := w.Sink(&dirSink{dir: out}).Option("checkpointLocation", cp).Trigger(trigger).Start(ctx)
	if err != nil {
		return err
	}
	fmt.Println("started") // the test waits for this line before it may kill
	return q.AwaitTermination(context.Background())
}

type dirSink struct{ dir string }

func (s *dirSink) Description() string                    { return "DirSink" }
func (s *dirSink) Open(context.Context, sinks.Info) error { return nil }
func (s *dirSink) Close(context.Context) error            { return nil }

func (s *dirSink) LastBatchID(context.Context) (int64, bool, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, false, err
	}
	var last int64 = -1
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "batch-")
		n, ok2 := strings.CutSuffix(n, ".jsonl")
		if !ok || !ok2 {
			continue
		}
		id, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("unexpected file %s", e.Name())
		}
		last = max(last, id)
	}
	return last, last >= 0, nil
}

func (s *dirSink) Begin(_ context.Context, id int64) (sinks.BatchWriter, error) {
	return &dirWriter{s: s, id: id}, nil
}

type dirWriter struct {
	s  *dirSink
	id int64
	b  strings.Builder
}

func (w *dirWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	return array.RecordToJSON(rec, &w.b)
}

func (w *dirWriter) Abort(context.Context) error { return nil }

func (w *dirWriter) Commit(context.Context) error {
	final := filepath.Join(w.s.dir, fmt.Sprintf("batch-%d.jsonl", w.id))
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(w.b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}
