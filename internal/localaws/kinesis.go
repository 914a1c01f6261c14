package localaws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Kinesis PutRecords limits. kinesis-local accepts more than AWS does, so they are enforced here.
const (
	maxPutRecords = 500
	maxPutBytes   = 5 << 20 // data plus partition keys
)

const (
	callTimeout = time.Minute // per API call or wait
	putAttempts = 5           // PutRecords calls per chunk before failing the test
)

// Record is one record to put with PutRecords.
type Record struct {
	// PartitionKey selects the shard; it must be 1 to 256 characters.
	PartitionKey string
	// ExplicitHashKey, if not empty, overrides the partition key's hash.
	ExplicitHashKey string
	// Data is the record's payload.
	Data []byte
}

// Placement is where PutRecords wrote one record.
type Placement struct {
	ShardID        string
	SequenceNumber string
}

// CreateStream creates a provisioned stream with the given number of shards, named after the
// test plus a random suffix, and waits until it is ACTIVE. It works on kinesis-local and
// kinesalite. t.Cleanup deletes the stream. Any error fails the test.
func CreateStream(t testing.TB, client *kinesis.Client, shards int) (name string) {
	t.Helper()
	if shards < 1 {
		t.Fatalf("localaws: CreateStream: %d shards, want at least 1", shards)
	}
	name = streamName(t.Name())
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	_, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(int32(shards)),
	})
	if err != nil {
		t.Fatalf("localaws: create stream %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("localaws: delete stream %s: %v", name, err)
		}
	})
	if err := waitActive(ctx, client, name); err != nil {
		t.Fatalf("localaws: create stream %s: %v", name, err)
	}
	return name
}

// waitActive polls DescribeStreamSummary until the stream is ACTIVE. The servers are started
// with 50 ms state transitions, so the SDK's StreamExistsWaiter (10 s minimum delay) would
// waste most of a test's time.
func waitActive(ctx context.Context, client *kinesis.Client, name string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{
			StreamName: aws.String(name),
		})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			// Not visible yet.
		case err != nil:
			return fmt.Errorf("wait for ACTIVE: %w", err)
		case out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for ACTIVE: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// streamName makes a unique stream name from a test name: at most 128 characters of
// [a-zA-Z0-9_.-].
func streamName(test string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, test)
	if len(clean) > 100 {
		clean = clean[:100]
	}
	var b [6]byte
	rand.Read(b[:])
	return "sluice-" + clean + "-" + hex.EncodeToString(b[:])
}

// PutRecords writes recs to stream in PutRecords calls of at most 500 records and 5 MiB.
// Entries a call reports as failed are sent again, up to 5 calls per chunk, so records of one
// partition key keep their order only if none of them had to be retried (the local servers
// never fail entries on their own). It returns where each record went, in the order of recs.
// Any error, or an entry still failing after the last attempt, fails the test.
func PutRecords(t testing.TB, client *kinesis.Client, stream string, recs []Record) []Placement {
	t.Helper()
	placed := make([]Placement, len(recs))
	for start := 0; start < len(recs); {
		end, size := start, 0
		for end < len(recs) && end-start < maxPutRecords {
			n := len(recs[end].Data) + len(recs[end].PartitionKey)
			if end > start && size+n > maxPutBytes {
				break
			}
			size += n
			end++
		}
		if err := putChunk(t.Context(), client, stream, recs[start:end], placed[start:end]); err != nil {
			t.Fatalf("localaws: put records %d..%d of %d into %s: %v", start, end-1, len(recs), stream, err)
		}
		start = end
	}
	return placed
}

// putChunk puts recs in one PutRecords call, then retries the failed entries, filling placed.
func putChunk(ctx context.Context, client *kinesis.Client, stream string, recs []Record, placed []Placement) error {
	pending := make([]int, len(recs)) // indexes into recs still to put
	for i := range pending {
		pending[i] = i
	}
	var lastErr error
	for attempt := range putAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		entries := make([]types.PutRecordsRequestEntry, len(pending))
		for j, i := range pending {
			entries[j] = types.PutRecordsRequestEntry{
				PartitionKey: aws.String(recs[i].PartitionKey),
				Data:         recs[i].Data,
			}
			if recs[i].ExplicitHashKey != "" {
				entries[j].ExplicitHashKey = aws.String(recs[i].ExplicitHashKey)
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := client.PutRecords(callCtx, &kinesis.PutRecordsInput{
			StreamName: aws.String(stream),
			Records:    entries,
		})
		cancel()
		if err != nil {
			return err
		}
		if len(out.Records) != len(pending) {
			return fmt.Errorf("%d results for %d records", len(out.Records), len(pending))
		}
		var failed []int
		for j, r := range out.Records {
			i := pending[j]
			if r.ErrorCode != nil {
				failed = append(failed, i)
				lastErr = fmt.Errorf("record %d: %s: %s", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				continue
			}
			placed[i] = Placement{ShardID: aws.ToString(r.ShardId), SequenceNumber: aws.ToString(r.SequenceNumber)}
		}
		if len(failed) == 0 {
			return nil
		}
		pending = failed
	}
	return fmt.Errorf("%d records still failing after %d attempts, last: %w", len(pending), putAttempts, lastErr)
}
