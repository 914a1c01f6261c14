package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
	filesink "github.com/sluicedev/sluice/sinks/file"
	_ "github.com/sluicedev/sluice/sinks/kinesis" // WriteStream().Format("kinesis")
	"github.com/sluicedev/sluice/sources/kinesis"
)

// run is one pipeline or baseline of the harness.
type run struct {
	name  string // the benchmark's name: BenchmarkE2E/<name>
	label string // its row in the table
	wide  bool   // it reads the wide stream, once, with fetchBufferSize -rss-buffer
	// rounds, if positive, is the number of rounds of the run instead of -rounds.
	rounds int
	skip   string // why it is not run
	// fn runs one round: one complete read of the stream, measured with env.measure and
	// checked with env.check.
	fn func(ctx context.Context, e *env) error
	// after, if not nil, runs once after the rounds.
	after func(ctx context.Context, e *env) error
	// memLimit runs the child with GOMEMLIMIT set from the wide run's fetchBufferSize
	// (memLimitFor).
	memLimit bool
}

// The runs, in the order of the table.
var runs = []run{
	{name: "decode-limit", label: "(c) decode limit: HTTP + base64 only", fn: decodeLimit},
	{name: "p1-source", label: "1 source → Arrow → discard", fn: sourceOnly},
	{name: "p2-json-filter", label: "2 source → FromJSON → Filter + Select → discard", fn: jsonFilter(false), after: celEval},
	{name: "p2-per-row-cel", label: "(b) pipeline 2, per-row CEL", fn: jsonFilter(true)},
	{name: "hand-written", label: "(a) hand-written SDK consumer", fn: handWritten},
	{name: "p3-parquet", label: "3 source → CEL Filter + Select → Parquet (snappy)", fn: toParquet},
	{name: "p4-kinesis-sink", label: "4 source → cast(\"string\") → Kinesis sink", fn: toKinesis},
	// Pipeline 5 reads the stream twice: it counts about 150 words per record.
	{name: "p5-wordcount", label: "5 source → FromJSON → words of msg → GroupBy(word).Count()", fn: wordCount, rounds: 2},
	{name: "rss-wide", label: "memory: pipeline 1 on the wide stream", wide: true, fn: sourceOnly},
	// The full-buffer memory runs: a consumer slower than the stream, so that the buffer fills.
	{name: "rss-full", label: "memory: pipeline 1 on the wide stream, slow consumer (full buffer)", wide: true, fn: slowConsumer},
	{name: "rss-full-limit", label: "memory: the same with GOMEMLIMIT (see the notes)", wide: true, fn: slowConsumer, memLimit: true},
}

func runByName(name string) (run, bool) {
	for _, r := range runs {
		if r.name == name {
			return r, true
		}
	}
	return run{}, false
}

// eventSchema is the schema of the events' JSON documents.
var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "msg", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// The expressions of the pipelines.
const (
	// errorFilter is pipeline 2's filter, over the parsed JSON.
	errorFilter = `level == "error"`
	// infoFilter is pipeline 3's filter, over the raw record: the info events.
	infoFilter = `string(data).contains("\"level\":\"info\"")`
)

// awsOptions are the options that point a Kinesis source or sink at the fake server.
func (e *env) awsOptions() map[string]string {
	return map[string]string{
		"streamName":   streamName,
		"region":       "us-east-1",
		"endpoint":     e.endpoint,
		"awsAccessKey": "bench",
		"awsSecretKey": "bench",
	}
}

// source returns the stream of records of a new query: the whole fake stream from its trim
// horizon.
func (e *env) source(p *pipeline.Pipeline) *pipeline.Stream {
	r := p.ReadStream().Format("kinesis").Options(e.awsOptions()).Option("initialPosition", "trim_horizon")
	if e.fetchBuffer != "" {
		r = r.Option("fetchBufferSize", e.fetchBuffer)
	}
	return r.Load()
}

// query runs one round of a pipeline: build returns the writer of a query over e.source (it may
// write in dir); the checkpoint goes into dir too, and the query runs with Trigger
// AvailableNow. Start and AwaitTermination are measured; then verify, if not nil, checks the
// output before dir is removed. query returns the rows the query read and the rows its sink
// received (as reported in the query's progress).
func (e *env) query(ctx context.Context, build func(src *pipeline.Stream, dir string) *pipeline.DataStreamWriter, verify func() error) (in, out int64, err error) {
	return e.queryFrom(ctx, e.source, build, verify)
}

// queryFrom is query with the stream of records from source.
func (e *env) queryFrom(ctx context.Context, source func(*pipeline.Pipeline) *pipeline.Stream, build func(src *pipeline.Stream, dir string) *pipeline.DataStreamWriter, verify func() error) (in, out int64, err error) {
	dir, err := os.MkdirTemp(e.cfg.Dir, "round-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	var inRows, outRows atomic.Int64
	p := pipeline.New(pipeline.WithLogger(e.log), pipeline.WithListener(pipeline.ListenerFuncs{Progress: func(ev pipeline.QueryProgressEvent) {
		inRows.Add(ev.Progress.NumInputRows)
		outRows.Add(ev.Progress.Sink.NumOutputRows)
	}}))
	defer p.Close(context.WithoutCancel(ctx))
	w := build(source(p), dir).
		Option("checkpointLocation", filepath.Join(dir, "checkpoint")).
		Trigger(pipeline.AvailableNow())
	err = e.measure(func() error {
		q, err := w.Start(ctx)
		if err != nil {
			return err
		}
		if e.res.Plan == "" {
			e.res.Plan = q.Explain()
		}
		return q.AwaitTermination(ctx)
	})
	if err == nil && verify != nil {
		err = verify()
	}
	return inRows.Load(), outRows.Load(), err
}

// discard is the sink of pipeline 2: a ForeachBatch that does nothing.
func discard(context.Context, arrow.RecordBatch, int64) error { return nil }

// sourceOnly is pipeline 1: records → Arrow batches, discarded. The sink is a ForeachTable
// (no copy of the micro-batch) that adds up the data bytes (from the offsets of the binary
// column, without reading the data), so that the bytes read are checked too.
func sourceOnly(ctx context.Context, e *env) error {
	var data atomic.Int64
	in, _, err := e.query(ctx, func(src *pipeline.Stream, _ string) *pipeline.DataStreamWriter {
		return src.WriteStream().ForeachTable(func(_ context.Context, t arrow.Table, _ int64) error {
			data.Add(dataBytes(t))
			return nil
		})
	}, nil)
	if err != nil {
		return err
	}
	return e.check(in, data.Load())
}

// dataBytes adds up the bytes of the data column of a table of Kinesis records.
func dataBytes(t arrow.Table) int64 {
	var n int64
	for _, c := range t.Column(kinesis.Schema.FieldIndices("data")[0]).Data().Chunks() {
		if offs := c.(*array.Binary).ValueOffsets(); len(offs) > 1 {
			n += int64(offs[len(offs)-1] - offs[0])
		}
	}
	return n
}

// slowConsumer is pipeline 1 with a consumer slower than the stream: the sink holds each
// micro-batch until the source's buffer is full (its totalPrefetchedBytes, the micro-batch
// being written included, within one GetRecords answer of fetchBufferSize), or has stopped
// growing for -rss-pause (the end of the stream). A sampler keeps the largest
// totalPrefetchedBytes seen, to show that the buffer was full.
func slowConsumer(ctx context.Context, e *env) error {
	o := kinesis.DefaultOptions()
	kv := e.awsOptions()
	kv["initialPosition"] = "trim_horizon"
	kv["fetchBufferSize"] = e.fetchBuffer
	if err := kinesis.Spec.Parse(&o, kv); err != nil {
		return err
	}
	src, err := kinesis.New(o)
	if err != nil {
		return err
	}
	buffered := func() int64 {
		n, _ := strconv.ParseInt(src.Metrics(nil)["totalPrefetchedBytes"], 10, 64)
		return n
	}
	var most atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if n := buffered(); n > most.Load() {
				most.Store(n)
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		e.res.BufferedMax = max(e.res.BufferedMax, most.Load())
	}()
	// full is the buffer less the largest answer (10,000 records of the stream's size).
	full := o.FetchBufferSize - int64(e.cfg.RecordSize+20)*10000
	var data atomic.Int64
	in, _, err := e.queryFrom(ctx, func(p *pipeline.Pipeline) *pipeline.Stream { return p.ReadStream().Source(src).Load() },
		func(s *pipeline.Stream, _ string) *pipeline.DataStreamWriter {
			return s.WriteStream().ForeachTable(func(ctx context.Context, t arrow.Table, _ int64) error {
				data.Add(dataBytes(t))
				last, since := buffered(), time.Now()
				for last < full && time.Since(since) < e.cfg.RSSPause {
					select {
					case <-time.After(2 * time.Millisecond):
					case <-ctx.Done():
						return ctx.Err()
					}
					if n := buffered(); n != last {
						last, since = n, time.Now()
					}
				}
				return nil
			})
		}, nil)
	if err != nil {
		return err
	}
	return e.check(in, data.Load())
}

// jsonFilter is pipeline 2: FromJSON(data), Filter(level == "error"), Select(user, msg), into
// a ForeachBatch that does nothing. With rowWise it is baseline (b): the same operators with
// operators.Options.RowWise, so that every expression is evaluated by cel-go row by row.
//
// The Filter is the one Stream.Filter adds (operators.Filter with the stream's options, here the
// defaults), wrapped in a stage that adds up its CPU time.
func jsonFilter(rowWise bool) func(ctx context.Context, e *env) error {
	return func(ctx context.Context, e *env) error {
		opts := operators.Options{RowWise: rowWise}
		filter := &stage{Operator: operators.Filter(errorFilter, opts), first: e.keepSample}
		in, out, err := e.query(ctx, func(src *pipeline.Stream, _ string) *pipeline.DataStreamWriter {
			parsed := src.FromJSON("data", eventSchema).Transform(filter)
			if rowWise {
				parsed = parsed.Transform(operators.Select([]string{"user", "msg"}, opts))
			} else {
				parsed = parsed.Select("user", "msg")
			}
			return parsed.WriteStream().ForeachBatch(discard)
		}, nil)
		if err != nil {
			return err
		}
		e.res.StageNs += filter.cpu.Load()
		e.res.StageRows += filter.rows.Load()
		if err := e.check(in, -1); err != nil {
			return err
		}
		return e.checkOut("the filter kept", out, e.stats.Errors)
	}
}

// toParquet is pipeline 3: a CEL filter on the raw records (the info events, about 90%) and a
// projection, written by the file sink as Parquet with snappy (the default) into a new
// directory. The rows are counted again in the committed files' manifests.
func toParquet(ctx context.Context, e *env) error {
	var path string
	var written int64
	in, out, err := e.query(ctx, func(src *pipeline.Stream, dir string) *pipeline.DataStreamWriter {
		path = filepath.Join(dir, "out")
		return src.Filter(infoFilter).
			Select("partitionKey", "string(data) AS body", "approximateArrivalTimestamp AS at").
			WriteStream().Format("parquet").
			Option("path", path).
			Option("compression", "snappy")
	}, func() (err error) {
		written, err = readParquetRows(ctx, path)
		return err
	})
	if err != nil {
		return err
	}
	if err := e.check(in, -1); err != nil {
		return err
	}
	if written != out {
		return fmt.Errorf("the committed Parquet files hold %d rows; the sink received %d", written, out)
	}
	return e.checkOut("the Parquet sink received", out, e.stats.Records-e.stats.Errors)
}

// readParquetRows returns the rows of the files committed under path.
func readParquetRows(ctx context.Context, path string) (int64, error) {
	t, err := filesink.ReadManifest(ctx, path)
	if err != nil {
		return 0, err
	}
	var rows int64
	for _, f := range t.Files() {
		rows += f.Rows
	}
	return rows, nil
}

// toKinesis is pipeline 4: data cast to a string (zero-copy) and the partition key, put into
// the fake stream by the Kinesis sink (PutRecords, at most 500 records or 5 MiB per call). The
// server counts and discards the records; the parent checks its count.
func toKinesis(ctx context.Context, e *env) error {
	in, out, err := e.query(ctx, func(src *pipeline.Stream, _ string) *pipeline.DataStreamWriter {
		return src.Select("partitionKey", `data.cast("string") AS data`).
			WriteStream().Format("kinesis").Options(e.awsOptions())
	}, nil)
	if err != nil {
		return err
	}
	if err := e.check(in, -1); err != nil {
		return err
	}
	return e.checkOut("the Kinesis sink received", out, e.stats.Records)
}

// wordCount is pipeline 5, a WordCount as Spark's example writes it (select(explode(split(...)))
// then groupBy): FromJSON, the message's words as a list (Select of msg.split(" ")), one row per
// word with no other column (Explode replacing the list), GroupBy("word").Count(), in update
// mode into a ForeachBatch that keeps the latest count of each word. The counts must add up to
// the words of the stream's messages.
func wordCount(ctx context.Context, e *env) error {
	if e.words == 0 {
		e.words = streamWords(e)
	}
	var mu sync.Mutex
	counts := map[string]int64{}
	in, _, err := e.query(ctx, func(src *pipeline.Stream, _ string) *pipeline.DataStreamWriter {
		return src.FromJSON("data", eventSchema).
			Select(`msg.split(" ") AS word`).
			Explode("word", "word"). // one row per word, and no other column
			GroupBy("word").Count().
			WriteStream().OutputMode("update").
			ForeachBatch(func(_ context.Context, b arrow.RecordBatch, _ int64) error {
				w, c := b.Schema().FieldIndices("word"), b.Schema().FieldIndices("count")
				if len(w) != 1 || len(c) != 1 {
					return fmt.Errorf("the counts have the schema %s", b.Schema())
				}
				words, ok1 := b.Column(w[0]).(*array.String)
				n, ok2 := b.Column(c[0]).(*array.Int64)
				if !ok1 || !ok2 {
					return fmt.Errorf("the counts have the schema %s", b.Schema())
				}
				mu.Lock()
				defer mu.Unlock()
				for i := range words.Len() {
					counts[words.Value(i)] = n.Value(i)
				}
				return nil
			})
	}, nil)
	if err != nil {
		return err
	}
	if err := e.check(in, -1); err != nil {
		return err
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	return e.checkOut("the word counts add up to", total, e.words)
}

// streamWords returns the number of words (msg.split(" ")) of the messages of one read of the
// stream.
func streamWords(e *env) int64 {
	per := make([]int64, fakekinesis.LogEvents)
	for k := range per {
		var ev logEvent
		json.Unmarshal(fakekinesis.LogEvent(k, e.cfg.RecordSize), &ev)
		per[k] = int64(len(strings.Split(ev.Msg, " ")))
	}
	var n int64
	for i := range e.cfg.RecordsPerShard {
		n += per[i%len(per)]
	}
	return n * int64(e.shards)
}
