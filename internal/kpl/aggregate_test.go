package kpl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// input is one user record given to an Aggregator.
type input struct {
	PartitionKey, ExplicitHashKey string
	Data                          []byte
}

// randomInputs returns n user records with shared and distinct keys, some explicit hash keys,
// empty and large data.
func randomInputs(r *rand.Rand, n int) []input {
	pks := []string{"a", "b", "ключ", "🔑", strings.Repeat("é", MaxPartitionKeyLength), "10", "2"}
	for i := range 200 {
		pks = append(pks, fmt.Sprintf("pk-%d", i))
	}
	ehks := []string{"0", maxHashKey, "170141183460469231731687303715884105727", "12345"}
	in := make([]input, n)
	for i := range in {
		var ehk string
		if r.IntN(2) == 0 {
			ehk = ehks[r.IntN(len(ehks))]
		}
		size := r.IntN(300)
		switch r.IntN(20) {
		case 0:
			size = 0
		case 1:
			size = 20_000 + r.IntN(20_000)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		in[i] = input{pks[r.IntN(len(pks))], ehk, data}
	}
	return in
}

// aggregateAll aggregates in, flushing on ErrFull, and checks each Kinesis record against limit.
func aggregateAll(t *testing.T, a *Aggregator, in []input, limit int) (records []input) {
	t.Helper()
	flush := func() {
		size, first := a.Size(), a.Len()
		pk, ehk, data := a.Flush()
		if len(data) != size {
			t.Fatalf("Size() = %d before Flush, data is %d bytes", size, len(data))
		}
		if len(data)+len(pk) > limit {
			t.Fatalf("Kinesis record of %d+%d bytes exceeds limit %d", len(data), len(pk), limit)
		}
		if first == 0 || a.Len() != 0 || a.Size() != 0 {
			t.Fatalf("Len %d before Flush, Len %d Size %d after", first, a.Len(), a.Size())
		}
		records = append(records, input{pk, ehk, data})
	}
	for i, r := range in {
		err := a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data)
		if errors.Is(err, ErrFull) {
			// The aggregate really is full: the record would push it over the limit.
			b := Aggregator{maxSize: math.MaxInt}
			start := i - a.Len()
			for _, r := range in[start : i+1] {
				if err := b.add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
					t.Fatal(err)
				}
			}
			if b.Size()+len(in[start].PartitionKey) <= limit {
				t.Fatalf("ErrFull for record %d, but records %d..%d fit in %d bytes", i, start, i, b.Size())
			}
			flush()
			err = a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data)
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if a.Len() > 0 {
		flush()
	}
	return records
}

func TestAggregatorRoundTrip(t *testing.T) {
	for _, limit := range []int{0, 64 << 10, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			in := randomInputs(rand.New(rand.NewPCG(1, uint64(limit))), 3000)
			a, err := NewAggregator(Options{MaxRecordSize: limit})
			if err != nil {
				t.Fatal(err)
			}
			if limit == 0 {
				limit = DefaultMaxRecordSize
			} else {
				// Records that cannot fit are the caller's to send another way.
				in = keepIf(in, func(r input) bool {
					var b Aggregator
					b.maxSize = limit
					return b.Add(r.PartitionKey, r.ExplicitHashKey, r.Data) == nil
				})
			}
			records := aggregateAll(t, a, in, limit)

			var got []input
			for _, r := range records {
				first := len(got)
				n, err := Deaggregate(r.Data, func(sub int, pk, ehk string, payload []byte) error {
					if sub != len(got)-first {
						t.Errorf("sub-sequence number %d, want %d", sub, len(got)-first)
					}
					got = append(got, input{pk, ehk, payload})
					return nil
				})
				if err != nil || n != len(got)-first {
					t.Fatalf("Deaggregate: n = %d, err = %v", n, err)
				}
				// The outer keys are the first user record's.
				if want := got[first]; r.PartitionKey != want.PartitionKey || r.ExplicitHashKey != want.ExplicitHashKey {
					t.Errorf("outer keys %q, %q; first user record has %q, %q",
						r.PartitionKey, r.ExplicitHashKey, want.PartitionKey, want.ExplicitHashKey)
				}
			}
			if diff := cmp.Diff(in, got, cmpRecords); diff != "" {
				t.Errorf("Deaggregate(Aggregate(x)) != x (-x +got):\n%s", diff)
			}
			if limit < DefaultMaxRecordSize && len(records) < 10 {
				t.Errorf("only %d aggregates for limit %d", len(records), limit)
			}
		})
	}
}

func keepIf[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// TestAggregatorSize checks Size after every Add across varint boundaries: data of 127/128 and
// 16383/16384 bytes, and key indexes past 127.
func TestAggregatorSize(t *testing.T) {
	var in []input
	for i := range 140 {
		ehk := ""
		if i%3 == 0 {
			ehk = fmt.Sprint(i)
		}
		size := []int{0, 127, 128, 16383, 16384, 5}[i%6]
		in = append(in, input{fmt.Sprintf("k%d", i), ehk, make([]byte, size)})
	}
	in = append(in, in[3], in[130]) // existing keys

	var a Aggregator
	for i, r := range in {
		if err := a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
			t.Fatal(err)
		}
		var b Aggregator
		for _, r := range in[:i+1] {
			if err := b.Add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, data := b.Flush(); a.Size() != len(data) {
			t.Fatalf("after %d records Size() = %d, Flush gives %d bytes", i+1, a.Size(), len(data))
		}
	}
}

func TestAggregatorLimit(t *testing.T) {
	const limit = 200
	// One record with a 1-byte key and no explicit hash key: 20 overhead, 3 table entry, 1+2
	// record header, 2 index, 1+2 data header (data of 128+ bytes), data, and 1 outer key.
	const fits = limit - 20 - 3 - 3 - 2 - 3 - 1
	a, err := NewAggregator(Options{MaxRecordSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add("k", "", make([]byte, fits+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Add of %d bytes: err = %v, want ErrRecordTooLarge", fits+1, err)
	}
	if a.Len() != 0 || a.Size() != 0 {
		t.Fatalf("failed Add changed the Aggregator: Len %d, Size %d", a.Len(), a.Size())
	}
	if err := a.Add("k", "", make([]byte, fits)); err != nil {
		t.Fatalf("Add of %d bytes: %v", fits, err)
	}
	if got := a.Size() + 1; got != limit {
		t.Fatalf("record of %d bytes, want exactly %d", got, limit)
	}
	size := a.Size()
	if err := a.Add("k", "", nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Add to a full aggregate: err = %v, want ErrFull", err)
	}
	if err := a.Add("k", "", make([]byte, limit)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Add of a record too large for any aggregate: err = %v, want ErrRecordTooLarge", err)
	}
	if a.Len() != 1 || a.Size() != size {
		t.Fatalf("failed Add changed the Aggregator: Len %d, Size %d (was 1, %d)", a.Len(), a.Size(), size)
	}
}

func TestAggregatorInvalidKeys(t *testing.T) {
	tests := []struct {
		pk, ehk string
		want    error
	}{
		{pk: "k"},
		{pk: strings.Repeat("日", MaxPartitionKeyLength)},
		{pk: "k", ehk: "0"},
		{pk: "k", ehk: maxHashKey},
		{pk: "k", ehk: "99999999999999999999999999999999999999"}, // 38 digits
		{pk: "", want: ErrInvalidPartitionKey},
		{pk: strings.Repeat("k", MaxPartitionKeyLength+1), want: ErrInvalidPartitionKey},
		{pk: "\xff", want: ErrInvalidPartitionKey},
		{pk: "k", ehk: "340282366920938463463374607431768211456", want: ErrInvalidExplicitHashKey},  // 2^128
		{pk: "k", ehk: "1000000000000000000000000000000000000000", want: ErrInvalidExplicitHashKey}, // 40 digits
		{pk: "k", ehk: "01", want: ErrInvalidExplicitHashKey},
		{pk: "k", ehk: "-1", want: ErrInvalidExplicitHashKey},
		{pk: "k", ehk: "0x1", want: ErrInvalidExplicitHashKey},
		{pk: "k", ehk: " 1", want: ErrInvalidExplicitHashKey},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q/%q", tt.pk, tt.ehk), func(t *testing.T) {
			var a Aggregator
			err := a.Add(tt.pk, tt.ehk, []byte("x"))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if want := btoi(tt.want == nil); a.Len() != want {
				t.Errorf("Len() = %d, want %d", a.Len(), want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAggregatorReuse(t *testing.T) {
	var a Aggregator
	if pk, ehk, data := a.Flush(); pk != "" || ehk != "" || data != nil {
		t.Fatalf("Flush of empty Aggregator = %q, %q, %x", pk, ehk, data)
	}
	for _, r := range []input{{"a", "1", []byte("x")}, {"b", "2", []byte("y")}} {
		if err := a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	first := a.Size()
	a.Reset()
	if a.Len() != 0 || a.Size() != 0 {
		t.Fatalf("after Reset Len %d, Size %d", a.Len(), a.Size())
	}
	in := []input{{"b", "", []byte("y")}, {"c", "2", []byte("z")}}
	for _, r := range in {
		if err := a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	pk, ehk, data := a.Flush()
	if pk != "b" || ehk != "" {
		t.Errorf("outer keys %q, %q; want %q, %q", pk, ehk, "b", "")
	}
	var got []input
	if _, err := Deaggregate(data, func(_ int, pk, ehk string, p []byte) error {
		got = append(got, input{pk, ehk, p})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("user records after Reset (-want +got):\n%s", diff)
	}
	if first == 0 {
		t.Error("Size() was 0 with two records")
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := NewAggregator(Options{MaxRecordSize: -1}); err == nil || !strings.Contains(err.Error(), "MaxRecordSize") {
		t.Errorf("NewAggregator(MaxRecordSize -1): err = %v, want one naming MaxRecordSize", err)
	}
	for _, o := range []Options{{}, {MaxRecordSize: 10 << 20}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v", o, err)
		}
	}
}

func BenchmarkAggregator(b *testing.B) {
	in := make([]input, 100)
	for i := range in {
		in[i] = input{fmt.Sprintf("pk-%d", i), "", make([]byte, 1024)}
	}
	var a Aggregator
	b.SetBytes(100 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range in {
			if err := a.Add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
				b.Fatal(err)
			}
		}
		a.Flush()
	}
}
