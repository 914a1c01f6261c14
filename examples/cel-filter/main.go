// Command cel-filter shapes Kinesis events with CEL: the source decodes the JSON in each
// record's data into typed columns (format=json, with the schema inferred from the first
// records), the query keeps the interesting rows, projects them with expressions and a Go
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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/pipeline"
	_ "github.com/sluicedev/sluice/sources/kinesis" // registers Format("kinesis")
)

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

	// A malformed document keeps its row, with nulls and the reason in the column "error",
	// instead of failing the batch: at the source's JSON decoding and in every transform.
	p := pipeline.New(pipeline.WithErrorPolicy(pipeline.ErrorColumn("error")))
	reader := p.ReadStream().Format("kinesis").
		Option("streamName", stream).
		Option("region", region).
		Option("initialPosition", "trim_horizon").
		Option("maxFetchDuration", "500ms").
		// Decode each record's data as one JSON object. The columns are inferred from the first
		// records, as Spark infers them ({"id", "type", "user", "amount", "ts"} gives id bigint,
		// type, user and ts strings, amount double); a query with a checkpointLocation keeps
		// them there and decodes with them again when restarted.
		Option("format", "json").
		Option("inferSchema", "true")
	if endpoint != "" {
		// Local servers accept any keys; they are redacted wherever options are printed.
		reader = reader.Option("endpoint", endpoint).Option("awsAccessKey", "local").Option("awsSecretKey", "local")
	}
	trigger := pipeline.AvailableNow()
	if follow {
		trigger = pipeline.ProcessingTime(time.Second)
	}
	q, err := reader.Load().
		WithColumnRenamed("type", "kind"). // "type" is a reserved word in CEL
		Filter(`kind == "purchase" && amount > 50.0`).
		// ts stays a string (Spark infers no timestamps): CEL's timestamp() parses its RFC 3339
		// time, nanoseconds included.
		Select("user", "kind", "amount", "tier(amount) AS tier", "int(amount * 100.0 + 0.5) AS cents",
			"timestamp(ts) AS at", "shardId", "error").
		WriteStream().
		Format("console").
		Option("truncate", "false").
		Trigger(trigger).
		Start(context.Background()) // Ctrl-C (ctx) ends the wait below, then Stop finishes the batch
	if err != nil {
		return err
	}
	fmt.Println(q.Explain())
	if err := q.AwaitTermination(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return q.Stop(stopCtx)
}
