// Command wordcount is the reference connector's first example in Sluice: it counts the words
// of the lines in a Kinesis stream across micro-batches and prints the counts that changed
// after each batch (output mode update), keeping the counts in the checkpoint so that they
// survive restarts.
//
//	bash scripts/localaws.sh start && source .localaws/env
//	go run ./examples/wordcount -produce 300 -checkpoint /tmp/wc   # create, fill, count
//	go run ./examples/wordcount -produce 100 -checkpoint /tmp/wc   # counts go on from there
//	bash scripts/localaws.sh stop
//
// With -produce N it first creates the stream (if needed) and puts N lines of text into it.
// Without -endpoint it talks to AWS with the default credential chain.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/demo"
	"github.com/sluicedev/sluice/pipeline"
	_ "github.com/sluicedev/sluice/sources/kinesis" // registers Format("kinesis")
)

func main() {
	var (
		endpoint   = flag.String("endpoint", os.Getenv("SLUICE_KINESIS_ENDPOINT"), "Kinesis endpoint (default $SLUICE_KINESIS_ENDPOINT; empty: AWS)")
		stream     = flag.String("stream", "sluice-wordcount", "stream to read")
		region     = flag.String("region", "us-east-1", "AWS region")
		produce    = flag.Int("produce", 0, "create the stream if needed and put this many lines of text into it first")
		shards     = flag.Int("shards", 2, "shards of a stream that -produce creates")
		checkpoint = flag.String("checkpoint", "", "checkpoint directory (empty: a temporary one, so counts start from zero)")
		follow     = flag.Bool("follow", false, "keep counting new lines (ProcessingTime(1s)) instead of stopping at the end (AvailableNow)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *produce > 0 {
		if err := produceLines(ctx, *endpoint, *region, *stream, *shards, *produce); err != nil {
			log.Fatalf("produce: %v", err)
		}
		log.Printf("put %d lines into %s", *produce, *stream)
	}
	if err := run(ctx, *endpoint, *stream, *region, *checkpoint, *follow); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoint, stream, region, checkpoint string, follow bool) error {
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
	w := wordCounts(reader.Load()).
		WriteStream().
		Format("console").
		Option("numRows", "50").
		OutputMode("update").
		Trigger(trigger)
	if checkpoint != "" {
		w = w.Option("checkpointLocation", checkpoint)
	}
	q, err := w.Start(context.Background()) // Ctrl-C (ctx) ends the wait below, then Stop finishes the batch
	if err != nil {
		return err
	}
	fmt.Println(q.Explain())
	if err := q.AwaitTermination(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		return err
	}
	if last := q.LastProgress(); last != nil && len(last.StateOperators) > 0 {
		fmt.Printf("distinct words in the state: %d\n", last.StateOperators[0].NumRowsTotal)
	}
	return nil
}

// wordCounts is the query: the words of each record's data, counted.
func wordCounts(lines *pipeline.Stream) *pipeline.Stream {
	return lines.
		Select("string(data) AS line").                  // cast("string"): no copy of the bytes
		Explode("word", `line.lowerAscii().split(" ")`). // one row per word
		Filter(`word != ""`).
		GroupBy("word").Count()
}

// text is the source of the sample lines.
var text = strings.Fields(`the quick brown fox jumps over the lazy dog while a stream of records
flows through shards and every micro batch counts words exactly once even when the query
restarts from its checkpoint`)

// produceLines creates the stream if it does not exist and puts n lines of random words.
func produceLines(ctx context.Context, endpoint, region, stream string, shards, n int) error {
	c, err := demo.Client(ctx, endpoint, region)
	if err != nil {
		return err
	}
	if err := demo.EnsureStream(ctx, c, stream, shards); err != nil {
		return err
	}
	entries := make([]types.PutRecordsRequestEntry, 0, n)
	for i := range n {
		words := make([]string, 3+rand.IntN(8))
		for j := range words {
			words[j] = text[rand.IntN(len(text))]
		}
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(strconv.Itoa(i)), Data: []byte(strings.Join(words, " "))})
	}
	return demo.Put(ctx, c, stream, entries)
}
