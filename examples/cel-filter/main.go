// Command cel-filter shapes Kinesis events with CEL: it parses the JSON in each record's data
// into typed columns, keeps the interesting rows, projects them with expressions and a Go
// function registered for CEL, and prints each micro-batch.
//
// Against the repository's local Kinesis server, with the events that kinesis-to-console
// produces ({"id", "type", "user", "amount", "ts"}):
//
//	bash scripts/localaws.sh start && source .localaws/env
//	go run ./examples/kinesis-to-console -produce 200 -available-now   # create and fill sluice-demo
//	go run ./examples/cel-filter                                       # filter it, then stop
//	bash scripts/localaws.sh stop
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/pipeline"
	_ "github.com/sluicedev/sluice/sources/kinesis" // registers Format("kinesis")
)

// eventSchema is the schema of the events' JSON documents.
var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "type", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	// The producer writes RFC 3339 times with nanoseconds, finer than a timestamp[us] column
	// takes from JSON; CEL's timestamp() parses them below.
	{Name: "ts", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("SLUICE_KINESIS_ENDPOINT"), "Kinesis endpoint (default $SLUICE_KINESIS_ENDPOINT; empty: AWS)")
	stream := flag.String("stream", "sluice-demo", "stream to read")
	region := flag.String("region", "us-east-1", "AWS region")
	follow := flag.Bool("follow", false, "keep reading new records (ProcessingTime(1s)) instead of stopping at the end (AvailableNow)")
	flag.Parse()
	if err := run(*endpoint, *stream, *region, *follow); err != nil {
		fmt.Fprintln(os.Stderr, "cel-filter:", err)
		os.Exit(1)
	}
}

func run(endpoint, stream, region string, follow bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// A Go function callable from every expression.
	expr.Register(expr.Func("tier", func(amount float64) string {
		switch {
		case amount >= 90:
			return "gold"
		case amount >= 70:
			return "silver"
		}
		return "bronze"
	}))

	p := pipeline.New()
	reader := p.ReadStream().Format("kinesis").
		Option("streamName", stream).
		Option("region", region).
		Option("initialPosition", "trim_horizon").
		Option("maxFetchDuration", "500ms")
	if endpoint != "" {
		// Local servers accept any keys; they are redacted wherever options are printed.
		reader = reader.Option("endpoint", endpoint).Option("awsAccessKey", "local").Option("awsSecretKey", "local")
	}
	trigger := pipeline.AvailableNow()
	if follow {
		trigger = pipeline.ProcessingTime(time.Second)
	}
	q, err := reader.Load().
		OnError(pipeline.ErrorColumn("error")). // a malformed document keeps its row, with the reason
		FromJSON("data", eventSchema).
		WithColumnRenamed("type", "kind"). // "type" is a reserved word in CEL
		Filter(`kind == "purchase" && amount > 50.0`).
		Select("user", "kind", "amount", "tier(amount) AS tier", "int(amount * 100.0) AS cents",
			"timestamp(ts) AS at", "shardId", "error").
		WriteStream().
		Format("console").
		Option("truncate", "false").
		Trigger(trigger).
		Start(ctx)
	if err != nil {
		return err
	}
	fmt.Println(q.Explain())
	if err := q.AwaitTermination(ctx); err != nil {
		return err
	}
	return q.Stop(context.Background())
}
