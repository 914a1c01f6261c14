// Command crashy runs a rate → directory query for the process-level crash tests: the test
// kills it with SIGKILL at random moments and restarts it on the same checkpoint, then checks
// that the output holds every row exactly once.
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
	flag.Parse()
	if err := run(*cp, *out, *rps, *perBatch, *availableNow); err != nil {
		fmt.Fprintln(os.Stderr, "crashy:", err)
		os.Exit(1)
	}
}

func run(cp, out, rps, perBatch string, availableNow bool) error {
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
	q, err := p.ReadStream().Format("rate").
		Option("rowsPerSecond", rps).Option("maxRowsPerBatch", perBatch).Option("numPartitions", "3").Load().
		WriteStream().Sink(&dirSink{dir: out}).Option("checkpointLocation", cp).Trigger(trigger).Start(ctx)
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
	vals := rec.Column(1).(*array.Int64)
	for i := range vals.Len() {
		fmt.Fprintf(&w.b, "{\"value\":%d}\n", vals.Value(i))
	}
	return nil
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
