package kinesis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources/kinesis"
)

// Read two streams by name with Spark-style options (importing the package registers the
// "kinesis" format).
func Example() {
	ctx := context.Background()
	p := pipeline.New()
	q, err := p.ReadStream().Format("kinesis").
		Option("streamName", "orders,refunds").
		Option("region", "us-east-1").
		Option("initialPosition", `{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`).
		Option("maxFetchDuration", "200ms").
		Load().
		WriteStream().Format("console").
		Option("checkpointLocation", "/var/lib/sluice/orders").
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Stop(ctx)
}

// Build the source in Go with an aws.Config, and pass it to the pipeline directly.
func ExampleNew() {
	cfg := aws.Config{Region: "eu-west-1"} // e.g. from config.LoadDefaultConfig
	o := kinesis.DefaultOptions()
	o.StreamNames = []string{"orders"}
	o.AWSConfig = &cfg
	o.InitialPosition = kinesis.InitialPosition{Kind: kinesis.TrimHorizon}
	o.MaxFetchDuration = 200 * time.Millisecond
	src, err := kinesis.New(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Description())
	_ = pipeline.New().ReadStream().Source(src).Load()
	// Output: KinesisV2[orders]
}

// The at_timestamp form of initialPosition, exactly as the reference documents it.
func ExampleParseInitialPosition() {
	p, err := kinesis.ParseInitialPosition(`{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Kind, p.Timestamp.Format(time.RFC3339))
	// Output: at_timestamp 2020-06-25T17:23:45Z
}

// Options are checked without I/O, all problems at once.
func ExampleOptions_Validate() {
	o := kinesis.DefaultOptions()
	o.MaxFetchRate = 3
	o.ConsumerMode = kinesis.EFO
	fmt.Println(o.Validate())
	// Output:
	// kinesis source: option "streamName": required option is missing (or give streamARN)
	// kinesis source: option "maxFetchRate": must be greater than 0 and at most 2.0 (the Kinesis read limit per shard), got 3
	// kinesis source: option "consumerMode": "efo" (enhanced fan-out) is not supported yet; use "polling"
}
