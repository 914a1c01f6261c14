// Command kinesis-to-console reads a Kinesis stream with Sluice and prints its records on the
// console, with the data column shown as text.
//
//	go run ./examples/kinesis-to-console -endpoint http://127.0.0.1:4567 -stream demo -produce 200
//
// With -produce N it first creates the stream (if needed) and puts N sample JSON events into
// it. Without -endpoint it talks to AWS with the default credential chain. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/demo"
	"github.com/sluicedev/sluice/pipeline"
	_ "github.com/sluicedev/sluice/sources/kinesis" // registers Format("kinesis")
)

func main() {
	var (
		endpoint     = flag.String("endpoint", os.Getenv("SLUICE_KINESIS_ENDPOINT"), "Kinesis endpoint, e.g. http://127.0.0.1:4567 (default $SLUICE_KINESIS_ENDPOINT; empty: AWS)")
		stream       = flag.String("stream", envOr("SLUICE_DEMO_STREAM", "sluice-demo"), "stream to read (default $SLUICE_DEMO_STREAM or sluice-demo)")
		region       = flag.String("region", envOr("AWS_REGION", "us-east-1"), "AWS region")
		position     = flag.String("initial-position", "trim_horizon", `where to start: latest, trim_horizon, or {"at_timestamp": "..."}`)
		produce      = flag.Int("produce", 0, "create the stream if needed and put this many sample JSON events into it first")
		shards       = flag.Int("shards", 2, "shards of a stream that -produce creates")
		availableNow = flag.Bool("available-now", false, "read what is in the stream now, then stop (Trigger.AvailableNow)")
		checkpoint   = flag.String("checkpoint", "", "checkpoint directory (default: a temporary one)")
	)
	flag.Parse()
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *produce > 0 {
		if err := produceEvents(ctx, *endpoint, *region, *stream, *shards, *produce); err != nil {
			log.Fatalf("produce: %v", err)
		}
		log.Printf("put %d events into %s", *produce, *stream)
	}

	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	reader := p.ReadStream().Format("kinesis").
		Option("streamName", *stream).
		Option("region", *region).
		Option("initialPosition", *position).
		// Make prefetched data available quickly instead of every 10s (the default).
		Option("maxFetchDuration", "500ms")
	if *endpoint != "" {
		// Local servers accept any keys; they are redacted wherever options are printed.
		reader = reader.Option("endpoint", *endpoint).Option("awsAccessKey", "local").Option("awsSecretKey", "local")
	}
	trigger := pipeline.ProcessingTime(time.Second)
	if *availableNow {
		trigger = pipeline.AvailableNow()
	}
	w := reader.Load().
		// Spark's cast("string"): the binary data column as text, without copying the bytes.
		Cast("data", "string").
		WriteStream().Format("console").Option("truncate", "false").Trigger(trigger)
	if *checkpoint != "" {
		w = w.Option("checkpointLocation", *checkpoint)
	}
	q, err := w.Start(context.Background()) // Ctrl-C ends AwaitTermination(ctx); Stop then finishes the batch
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, q.Explain())
	if err := q.AwaitTermination(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		log.Fatal(err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// produceEvents creates the stream if it does not exist and puts n sample JSON events into it.
func produceEvents(ctx context.Context, endpoint, region, stream string, shards, n int) error {
	c, err := demo.Client(ctx, endpoint, region)
	if err != nil {
		return err
	}
	if err := demo.EnsureStream(ctx, c, stream, shards); err != nil {
		return err
	}
	kinds := []string{"click", "view", "purchase", "signup"}
	entries := make([]types.PutRecordsRequestEntry, 0, n)
	for i := range n {
		user := fmt.Sprintf("user-%03d", rand.IntN(50))
		ev, _ := json.Marshal(map[string]any{"id": i, "type": kinds[rand.IntN(len(kinds))], "user": user,
			"amount": float64(rand.IntN(10000)) / 100, "ts": time.Now().UTC().Format(time.RFC3339Nano)})
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(user), Data: ev})
	}
	return demo.Put(ctx, c, stream, entries)
}
