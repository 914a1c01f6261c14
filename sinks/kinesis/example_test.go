package kinesis_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks/kinesis"
)

// Copy one stream into another, KPL-aggregated: the Kinesis source's rows already have the
// data and partitionKey columns the sink writes. (Not run: it needs AWS.)
func Example() {
	ctx := context.Background()
	p := pipeline.New()
	q, err := p.ReadStream().Format("kinesis").
		Option("streamName", "orders").
		Option("region", "us-east-1").
		Option("initialPosition", "trim_horizon").
		Load().
		WriteStream().Format("kinesis").
		Option("streamName", "orders-copy").
		Option("region", "us-east-1").
		Option("aggregationEnabled", "true").
		Option("checkpointLocation", "/var/lib/sluice/orders-copy").
		Trigger(pipeline.ProcessingTime(time.Second)).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
}

// Options are validated together, each problem naming its key; secrets are never shown.
func ExampleNew() {
	o := kinesis.DefaultOptions()
	o.StreamName = "orders"
	o.MaxAttempts = 0
	o.AWSSecretKey = "wJalrXUtnFEMI/K7MDENG"
	_, err := kinesis.New(o)
	fmt.Println(strings.ReplaceAll(err.Error(), "\n", "\n  "))
	// Output:
	// kinesis sink: option "maxAttempts": must be between 1 and 1000, got 0
	//   kinesis sink: option "awsAccessKey": required when awsSecretKey is given
}

// The options table of the "kinesis" sink format, for the docs.
func ExampleSpec() {
	for _, line := range strings.Split(kinesis.Spec.Markdown(), "\n")[7:10] {
		fmt.Println(line)
	}
	// Output:
	// | `maxAttempts` | integer | 10 | Tries per record (throttled or failed entries are retried alone) before the micro-batch fails and is replayed. |
	// | `minRetryDelay` | duration | 100ms | Backoff before the first retry; it doubles per try, with full jitter. |
	// | `maxRetryDelay` | duration | 5s | Longest backoff between tries. |
}
