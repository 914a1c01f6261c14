package kpl_test

import (
	"errors"
	"fmt"

	"github.com/sluicedev/sluice/internal/kpl"
)

// A consumer decodes each Kinesis record, passing through records that are not aggregates.
func ExampleDeaggregate() {
	var a kpl.Aggregator
	_ = a.Add("user-1", "", []byte(`{"click":1}`))
	_ = a.Add("user-2", "170141183460469231731687303715884105727", []byte(`{"click":2}`))
	_, _, aggregated := a.Flush()

	for _, data := range [][]byte{aggregated, []byte(`{"plain":true}`)} {
		_, err := kpl.Deaggregate(data, func(sub int, partitionKey, explicitHashKey string, payload []byte) error {
			fmt.Printf("sub %d key %s ehk %q: %s\n", sub, partitionKey, explicitHashKey, payload)
			return nil
		})
		if errors.Is(err, kpl.ErrNotAggregated) {
			fmt.Printf("sub 0 key <record's own>: %s\n", data)
		}
	}
	// Output:
	// sub 0 key user-1 ehk "": {"click":1}
	// sub 1 key user-2 ehk "170141183460469231731687303715884105727": {"click":2}
	// sub 0 key <record's own>: {"plain":true}
}

// A producer adds user records until the aggregate is full, then sends it.
func ExampleAggregator() {
	a, err := kpl.NewAggregator(kpl.Options{MaxRecordSize: 100})
	if err != nil {
		panic(err)
	}
	send := func() {
		pk, _, data := a.Flush()
		fmt.Printf("PutRecord key %s, %d bytes\n", pk, len(data))
	}
	for i := range 5 {
		key, data := fmt.Sprintf("k%d", i), []byte("twenty bytes of data")
		err := a.Add(key, "", data)
		if errors.Is(err, kpl.ErrFull) {
			send()
			err = a.Add(key, "", data)
		}
		if err != nil {
			panic(err)
		}
	}
	if a.Len() > 0 {
		send()
	}
	// Output:
	// PutRecord key k0, 80 bytes
	// PutRecord key k2, 80 bytes
	// PutRecord key k4, 50 bytes
}
