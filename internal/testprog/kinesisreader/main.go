// Command kinesisreader is a test program for the Kinesis source's SIGKILL test: it reads a
// stream with a checkpointed query into an idempotent directory sink (one JSON-lines file per
// micro-batch, written atomically) until it is killed.
//
//	kinesisreader -endpoint URL -stream NAME -checkpoint DIR -out DIR
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks"
	_ "github.com/sluicedev/sluice/sources/kinesis"
)

func main() {
	endpoint := flag.String("endpoint", "", "Kinesis endpoint")
	stream := flag.String("stream", "", "stream")
	cp := flag.String("checkpoint", "", "checkpoint directory")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	q, err := p.ReadStream().Format("kinesis").Options(map[string]string{
		"streamName": *stream, "endpoint": *endpoint, "region": "us-east-1",
		"awsAccessKey": "local", "awsSecretKey": "local", "initialPosition": "trim_horizon",
		"minFetchPeriod": "200ms", "maxFetchDuration": "100ms", "shardFetchInterval": "200ms",
		"maxRecordsPerFetch": "150",
	}).Load().WriteStream().Sink(&dirSink{dir: *out}).Option("checkpointLocation", *cp).Start(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started")
	if err := q.AwaitTermination(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// Row is one output line.
type Row struct {
	PartitionKey string `json:"pk"`    // the partitionKey column
	Data         string `json:"data"`  // the data column
	Shard        string `json:"shard"` // the shardId column
	Seq          string `json:"seq"`   // the sequenceNumber column
}

// dirSink writes batch N to DIR/N.jsonl through a temporary file and a rename; the highest N
// present is its last batch ID.
type dirSink struct{ dir string }

// Description implements sinks.Sink.
func (s *dirSink) Description() string { return "DirSink" }

// Open implements sinks.Sink.
func (s *dirSink) Open(context.Context, sinks.Info) error { return nil }

// Close implements sinks.Sink.
func (s *dirSink) Close(context.Context) error { return nil }

// LastBatchID implements sinks.Idempotent: the highest batch file present.
func (s *dirSink) LastBatchID(context.Context) (int64, bool, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.jsonl"))
	if err != nil || len(names) == 0 {
		return 0, false, err
	}
	var ids []int64
	for _, n := range names {
		id, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(n), ".jsonl"), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	return slices.Max(ids), true, nil
}

// Begin implements sinks.Sink.
func (s *dirSink) Begin(_ context.Context, id int64) (sinks.BatchWriter, error) {
	return &dirWriter{s: s, id: id}, nil
}

type dirWriter struct {
	s    *dirSink
	id   int64
	rows []Row
}

// Write implements sinks.BatchWriter.
func (w *dirWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	pk := rec.Column(0).(*array.String)
	d := rec.Column(1).(*array.Binary)
	sh := rec.Column(3).(*array.String)
	sq := rec.Column(4).(*array.String)
	for i := range int(rec.NumRows()) {
		w.rows = append(w.rows, Row{pk.Value(i), string(d.Value(i)), sh.Value(i), sq.Value(i)})
	}
	return nil
}

// Abort implements sinks.BatchWriter.
func (w *dirWriter) Abort(context.Context) error { return nil }

// Commit implements sinks.BatchWriter: the batch's file appears atomically.
func (w *dirWriter) Commit(context.Context) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, r := range w.rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	tmp := filepath.Join(w.s.dir, fmt.Sprintf(".%d.tmp", w.id))
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
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
	return os.Rename(tmp, filepath.Join(w.s.dir, fmt.Sprintf("%d.jsonl", w.id)))
}
