package kinesis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// GetRecords answers are decoded straight into Arrow when the client is a *kinesis.Client
// (the client the source builds, or one given in Options.Client). The SDK still does
// everything else of the call: endpoints, credentials, signing, sending, retries if the client
// has them, error answers. Only the deserialization of a successful answer changes, through
// the SDK's documented extension point, a middleware added to the call's stack with
// kinesis.Options.APIOptions: recordsDeserializer sits in the Deserialize step just below the
// SDK's deserializer ("OperationDeserializer"), so it sees the raw HTTP response first. For a
// 2xx answer it reads the body, scans it (getrecords_scan.go) and builds the block, then hands
// the SDK's deserializer the body with the Records array replaced by null: the SDK decodes
// NextShardIterator, MillisBehindLatest and ChildShards as before, and GetRecordsOutput.Records
// is empty. Any other answer passes through untouched, so throttling, expired iterators,
// access denied and the rest are the SDK's typed errors as before. A body that cannot be read
// or decoded is a *smithy.DeserializationError, as the SDK's own would be (a transient error
// for the source; see classify).
//
// Other API implementations (fakes, wrappers) are called as before and their
// GetRecordsOutput.Records decoded by decoder.decode; both ways give the same batches.

// answer is a GetRecords answer: its records as a block, and what the source needs of the
// rest.
type answer struct {
	decoded
	next     *string // NextShardIterator; nil when the shard has ended
	msBehind *int64  // MillisBehindLatest
	records  int     // Kinesis records in the answer, before de-aggregation and bounds
	bytes    int64   // their data and partition key bytes, as Kinesis counts them
}

// getRecords makes one GetRecords call and decodes its records as decoder.decode does: the
// user records after lo and, when hi is not nil, up to hi, into a block starting at from. The
// block holds one reference, for the caller.
func (s *Source) getRecords(ctx context.Context, dec *decoder, in *kinesis.GetRecordsInput, from, lo position, hi *position) (answer, error) {
	if c, ok := s.api.(*kinesis.Client); ok {
		call := &arrowCall{dec: dec, from: from, lo: lo, hi: hi}
		out, err := c.GetRecords(ctx, in, call.option)
		if err != nil {
			call.release()
			return answer{}, err
		}
		if call.done {
			return answer{decoded: call.res, next: out.NextShardIterator, msBehind: out.MillisBehindLatest, records: call.records, bytes: call.bytes}, nil
		}
		// The middleware could not be added (see arrowCall.addTo): decode as for any API.
		return decodeOutput(dec, out, from, lo, hi), nil
	}
	out, err := s.api.GetRecords(ctx, in)
	if err != nil {
		return answer{}, err
	}
	return decodeOutput(dec, out, from, lo, hi), nil
}

// decodeOutput decodes the records of a GetRecordsOutput.
func decodeOutput(dec *decoder, out *kinesis.GetRecordsOutput, from, lo position, hi *position) answer {
	a := answer{decoded: dec.decode(out.Records, from, lo, hi), next: out.NextShardIterator, msBehind: out.MillisBehindLatest, records: len(out.Records)}
	for i := range out.Records {
		a.bytes += int64(len(out.Records[i].Data) + len(deref(out.Records[i].PartitionKey)))
	}
	return a
}

// arrowCall is one GetRecords call whose answer recordsDeserializer decodes.
type arrowCall struct {
	dec      *decoder
	from, lo position
	hi       *position

	done    bool // res and the counts are set
	res     decoded
	records int
	bytes   int64
}

// option is the call's functional option: it adds the middleware to the call's stack.
func (c *arrowCall) option(o *kinesis.Options) {
	o.APIOptions = append(o.APIOptions, c.addTo)
}

// addTo inserts recordsDeserializer below the SDK's deserializer. If a future SDK names that
// step differently, nothing is added and the call is decoded by the SDK.
func (c *arrowCall) addTo(stack *middleware.Stack) error {
	const sdkDeserializer = "OperationDeserializer"
	if _, ok := stack.Deserialize.Get(sdkDeserializer); !ok {
		return nil
	}
	return stack.Deserialize.Insert(&recordsDeserializer{call: c}, sdkDeserializer, middleware.After)
}

// release releases the block of an answer that will not be used (the call failed after it was
// decoded).
func (c *arrowCall) release() {
	if c.done && c.res.blk != nil {
		c.res.blk.release()
	}
	c.done, c.res = false, decoded{}
}

// recordsDeserializer decodes the body of a successful GetRecords answer into its call's block.
type recordsDeserializer struct {
	call *arrowCall
}

// ID implements middleware.DeserializeMiddleware.
func (*recordsDeserializer) ID() string { return "SluiceGetRecordsToArrow" }

// HandleDeserialize implements middleware.DeserializeMiddleware.
func (m *recordsDeserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return out, md, nil // the SDK's deserializer makes the error
	}
	// At most maxFreeScratch bodies are read and decoded at once, in the pooled scratches:
	// decoding is CPU work, more at once would not be faster, and each body is up to 14 MB.
	select {
	case bodySlots <- struct{}{}:
	case <-ctx.Done():
		resp.Body.Close()
		return out, md, &smithy.DeserializationError{Err: ctx.Err()}
	}
	rest, err := m.call.decodeBody(resp.Body, resp.ContentLength)
	<-bodySlots
	if err != nil {
		return out, md, &smithy.DeserializationError{Err: err}
	}
	resp.Body = io.NopCloser(bytes.NewReader(rest))
	return out, md, nil
}

// bodySlots bounds the GetRecords bodies read and decoded at once (see HandleDeserialize).
var bodySlots = make(chan struct{}, maxFreeScratch)

// decodeBody reads and closes the body of a successful answer, decodes its records into the
// call's block and returns the rest of the body for the SDK's deserializer.
func (c *arrowCall) decodeBody(body io.ReadCloser, size int64) ([]byte, error) {
	c.release() // an earlier attempt's, if the client retried after decoding
	sc := getScratch()
	defer putScratch(sc)
	var err error
	sc.body, err = readAll(body, sc.body[:0], size)
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("kinesis: read the GetRecords answer of %s/%s: %w", c.dec.stream, c.dec.shard, err)
	}
	if err := sc.scan(sc.body); err != nil {
		return nil, fmt.Errorf("kinesis: the GetRecords answer of %s/%s is not valid: %w", c.dec.stream, c.dec.shard, err)
	}
	res, n, err := c.dec.build(sc, sc.recs, true, c.from, c.lo, c.hi)
	if err != nil {
		return nil, fmt.Errorf("kinesis: the GetRecords answer of %s/%s is not valid: %w", c.dec.stream, c.dec.shard, err)
	}
	c.done, c.res, c.records, c.bytes = true, res, len(sc.recs), n
	return sc.rest(), nil
}

// largeBody is the length of the last body larger than 64 KiB that readAll read, to which a
// body of unknown length (a chunked answer) grows at once: a call may find no pooled buffer
// (see scratchFree), and growing a new one by doubling to 14 MB costs more than
// reading into it.
var largeBody atomic.Int64

// readAll reads r to its end, appending to buf, which grows as needed; size is the length
// to expect, or -1.
func readAll(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size >= 0 && size < 1<<31 && cap(buf)-len(buf) <= int(size) {
		// One more byte than the body, so that the read that sees its end needs no room.
		buf = slices.Grow(buf, int(size)+1)
	}
	for {
		if len(buf) == cap(buf) {
			// By a quarter, not by doubling: a pooled buffer a little too small for this body
			// would otherwise become one of 2.4 times the body (33 MB for a 14 MB body, as the
			// runtime rounds a doubled request up), and stay so in the pool.
			n := max(len(buf)/4, 64<<10)
			if hint := int(largeBody.Load()); len(buf) > 0 && hint > cap(buf) {
				n = max(n, hint+hint/16+1-len(buf))
			}
			buf = slices.Grow(buf, n)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if len(buf) > 64<<10 {
				largeBody.Store(int64(len(buf)))
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
