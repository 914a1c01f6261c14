// Command cel-filter shapes a stream of JSON events with CEL: it parses the JSON into typed
// columns, keeps the interesting rows and projects them, printing each micro-batch.
//
// The events are made up from the "rate-micro-batch" source, whose rows are (timestamp, value):
// a WithColumn turns each row into a JSON document, as a Kinesis stream would deliver it in its
// data column. (It will read from Kinesis once that source lands.)
//
//	go run ./examples/cel-filter              # three micro-batches, then stop
//	go run ./examples/cel-filter -batches 0   # run until interrupted
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/pipeline"
)

// eventJSON builds an event document from a rate row with CEL string operations.
const eventJSON = `'{"id": ' + string(value) +
	', "device": "sensor-' + string(value % 3) + '"' +
	', "level": "' + ["debug", "info", "warn", "error"][value % 4] + '"' +
	', "latency_ms": ' + string(double(value * 37 % 500) / 4.0) +
	', "at": "' + string(timestamp) + '"}'`

// eventSchema is the schema of the events' JSON.
var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "latency_ms", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

func main() {
	batches := flag.Int("batches", 3, "micro-batches to run; 0 runs until interrupted")
	rows := flag.Int("rows", 12, "events per micro-batch")
	flag.Parse()
	if err := run(*batches, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "cel-filter:", err)
		os.Exit(1)
	}
}

func run(batches, rows int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// A Go function callable from expressions.
	expr.Register(expr.Func("severity", func(level string) int64 {
		return int64(strings.Index("debug info  warn  error", level) / 6)
	}))

	p := pipeline.New()
	defer p.Close(context.WithoutCancel(ctx))
	events := p.ReadStream().
		Format("rate-micro-batch").
		Option("rowsPerBatch", strconv.Itoa(rows)).
		Option("startTimestamp", "1700000000000").
		Load().
		OnError(pipeline.ErrorColumn("error")).
		Select(eventJSON+" AS data").
		FromJSON("data", eventSchema)

	q, err := events.
		Filter(`level in ["warn", "error"] && latency_ms > 20.0`).
		Select("id", "device", "level", "severity(level) AS severity",
			"latency_ms * 1000.0 AS latency_us", "at", "error").
		WriteStream().
		Format("console").
		Option("truncate", "false").
		Trigger(pipeline.ProcessingTime(500 * time.Millisecond)).
		Start(ctx)
	if err != nil {
		return err
	}
	fmt.Println(q.Explain())
	// Stop gracefully after the requested number of batches, or at ^C.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for batches == 0 || len(q.RecentProgress()) < batches {
		select {
		case <-ctx.Done():
			return q.Stop(context.Background())
		case <-q.Done():
			return q.Err()
		case <-tick.C:
		}
	}
	return q.Stop(ctx)
}
