package optspec_test

import (
	"fmt"
	"math"
	"time"

	"github.com/sluicedev/sluice/optspec"
)

func ExampleSpec_Parse() {
	type Options struct {
		Stream   string
		Interval time.Duration
		Limit    int64
	}
	spec := &optspec.Spec[Options]{Component: "demo source", Options: []optspec.Option[Options]{
		optspec.NonEmpty("streamName", "", "The stream to read.", func(o *Options) *string { return &o.Stream }),
		optspec.Duration("interval", "1s", "How often to poll.", time.Millisecond, time.Hour, func(o *Options) *time.Duration { return &o.Interval }),
		optspec.Int("limit", "100", "Records per call.", 1, 10000, func(o *Options) *int64 { return &o.Limit }),
	}}
	spec.Options[0].Required = true

	o := Options{Interval: time.Second, Limit: 100}
	err := spec.Parse(&o, map[string]string{"STREAMNAME": "clicks", "interval": "250"})
	fmt.Println(o, err)

	err = spec.Parse(&o, map[string]string{"intervall": "1s", "limit": fmt.Sprint(math.MaxInt32)})
	fmt.Println(err)
	// Output:
	// {clicks 250ms 100} <nil>
	// demo source: option "intervall": unknown option (did you mean "interval"?); known options: streamName, interval, limit
	// demo source: option "limit": invalid value "2147483647": must be between 1 and 10000
	// demo source: option "streamName": required option is missing
}
