package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/localaws"
)

// fault is what faultTransport does to one request.
type fault int

const (
	faultNone fault = iota
	faultThrottle
	faultKMSThrottle
	faultLimitExceeded
	faultExpired
	faultServerError
	faultReset
	faultTruncated
	faultDenied
)

// faultTransport is an http.RoundTripper that injects Kinesis faults into the calls of a real
// server: error answers as Kinesis sends them, broken connections, and bodies cut short as in
// the SDK's "use of closed network connection" race.
type faultTransport struct {
	next http.RoundTripper
	plan func(op string, n int) fault // n counts the calls of op, from 1

	mu     sync.Mutex
	calls  map[string]int
	faults map[fault]int
}

func newFaultTransport(plan func(op string, n int) fault) *faultTransport {
	return &faultTransport{next: http.DefaultTransport.(*http.Transport).Clone(), plan: plan, calls: map[string]int{}, faults: map[fault]int{}}
}

func kinesisError(status int, typ, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg)
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status),
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"injected"}, "X-Amzn-Errortype": {typ}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "Kinesis_20131202.")
	f.mu.Lock()
	f.calls[op]++
	what := f.plan(op, f.calls[op])
	f.faults[what]++
	f.mu.Unlock()
	if req.Body != nil && what != faultNone && what != faultTruncated {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	switch what {
	case faultThrottle:
		return kinesisError(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard"), nil
	case faultKMSThrottle:
		return kinesisError(400, "KMSThrottlingException", "KMS rate exceeded"), nil
	case faultLimitExceeded:
		return kinesisError(400, "LimitExceededException", "Limit exceeded"), nil
	case faultExpired:
		return kinesisError(400, "ExpiredIteratorException", "Iterator expired"), nil
	case faultServerError:
		return kinesisError(500, "InternalFailure", "injected"), nil
	case faultDenied:
		return kinesisError(400, "AccessDeniedException", "User is not authorized to perform: kinesis:"+op), nil
	case faultReset:
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil || what != faultTruncated {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), errReader{errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")}))
	return resp, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func (f *faultTransport) count(x fault) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults[x]
}

// faultyOptions are fastOptions whose HTTP calls go through ft.
func faultyOptions(ep string, ft *faultTransport, streams ...string) Options {
	o := fastOptions(ep, streams...)
	cfg := o.AWSConfig.Copy()
	cfg.HTTPClient = &http.Client{Transport: ft}
	o.AWSConfig = &cfg
	return o
}

// TestFaultInjection reads a kinesalite stream while every third GetRecords call fails in one
// of the ways Kinesis calls fail, and some GetShardIterator and ListShards calls too: no
// record is lost or duplicated, and the faults show in the metrics.
func TestFaultInjection(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	want := records("f", 1500, 40)
	localaws.PutRecords(t, c, name, want)
	cycle := []fault{faultThrottle, faultServerError, faultExpired, faultReset, faultTruncated, faultKMSThrottle, faultLimitExceeded}
	ft := newFaultTransport(func(op string, n int) fault {
		switch op {
		case "GetRecords":
			// Every third call: with two shards read in turns, faulting every other call could
			// fault every call of one shard, whose backoff would then stall it.
			if n%3 == 0 {
				return cycle[(n/3)%len(cycle)]
			}
		case "GetShardIterator", "ListShards", "DescribeStreamSummary":
			if n%3 == 0 {
				return []fault{faultServerError, faultReset, faultThrottle}[(n/3)%3]
			}
		}
		return faultNone
	})
	o := faultyOptions(ep, ft, name)
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = 100
	s, _ := openSource(t, o)
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows, end := readUntil(t, s, start, len(want), 2*time.Minute)
	checkExactlyOnce(t, rows, want)
	for _, f := range cycle {
		if ft.count(f) == 0 {
			t.Errorf("fault %d was not injected", f)
		}
	}
	m := s.Metrics(end)
	for _, k := range []string{"numThrottled", "numRetries", "numExpiredIterators"} {
		if m[k] == "0" {
			t.Errorf("%s = 0: %v", k, m)
		}
	}
	t.Logf("metrics: %v", m)

	// Reading the range again from Kinesis, through the same faults, gives the same rows.
	s.Close(t.Context())
	b, _ := openSource(t, o)
	again, err := read(t.Context(), b, start, end)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, again, want)
}

// TestAccessDeniedLocal: an AccessDeniedException stops the source with an error naming the
// permissions it needs.
func TestAccessDeniedLocal(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	for _, op := range []string{"ListShards", "GetShardIterator"} {
		ft := newFaultTransport(func(o string, _ int) fault {
			if o == op {
				return faultDenied
			}
			return faultNone
		})
		s, err := New(faultyOptions(ep, ft, name))
		if err != nil {
			t.Fatal(err)
		}
		mem := newChecked(t)
		err = s.Open(t.Context(), openInfo(t, mem))
		if err == nil {
			start, ierr := s.InitialOffset(t.Context())
			if ierr != nil {
				t.Fatal(ierr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			for ctx.Err() == nil && err == nil {
				_, err = s.LatestOffset(ctx, start, sourcesReadLimit)
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}
		s.Close(t.Context())
		if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), permissions) {
			t.Errorf("%s denied: %v", op, err)
		}
	}
}

// TestKPLVectorsLocal puts every KPL vector as one record and reads them through the source.
func TestKPLVectorsLocal(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	names, data, outer, want := kplVectors(t)
	var recs []localaws.Record
	total := 0
	for _, n := range names {
		recs = append(recs, localaws.Record{PartitionKey: outer[n], Data: data[n]})
		total += len(want[n])
	}
	placed := localaws.PutRecords(t, c, name, recs)
	o := fastOptions(ep, name)
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	s, _ := openSource(t, o)
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows, end := readUntil(t, s, start, total, time.Minute)
	bySeq := map[string][]row{}
	for _, r := range rows {
		bySeq[r.Seq] = append(bySeq[r.Seq], r)
	}
	for i, n := range names {
		got := bySeq[placed[i].SequenceNumber]
		if len(got) != len(want[n]) {
			t.Errorf("%s: %d user records, want %d", n, len(got), len(want[n]))
			continue
		}
		for j, w := range want[n] {
			if got[j].PartitionKey != w.PartitionKey || encode64(got[j].Data) != w.Data {
				t.Errorf("%s: user record %d = %q/%q, want %q/%s", n, j, got[j].PartitionKey, got[j].Data, w.PartitionKey, w.Data)
			}
		}
	}
	// Read again by a new source, from inside the 100-record aggregate.
	var aggSeq string
	for i, n := range names {
		if n == "agg-100x1k" {
			aggSeq = placed[i].SequenceNumber
		}
	}
	so, _ := decodeOffset(start)
	for id := range so.streams[name].shards {
		so.streams[name].shards[id] = after(aggSeq, 41)
	}
	b, _ := openSource(t, o)
	again, err := read(t.Context(), b, so.encode(), end)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) == 0 || again[0].Seq != aggSeq || encode64(again[0].Data) != want["agg-100x1k"][42].Data {
		t.Errorf("read from inside the aggregate: first row %+v", again[0])
	}
}

// countingAPI counts GetRecords calls and bytes per shard, following iterators.
type countingAPI struct {
	API
	mu    sync.Mutex
	shard map[string]string // iterator -> shard
	calls map[string][]time.Time
	bytes map[string]int64
}

func newCountingAPI(api API) *countingAPI {
	return &countingAPI{API: api, shard: map[string]string{}, calls: map[string][]time.Time{}, bytes: map[string]int64{}}
}

func (c *countingAPI) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, o ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	out, err := c.API.GetShardIterator(ctx, in, o...)
	if err == nil {
		c.mu.Lock()
		c.shard[aws.ToString(out.ShardIterator)] = aws.ToString(in.ShardId)
		c.mu.Unlock()
	}
	return out, err
}

func (c *countingAPI) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, o ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	c.mu.Lock()
	sh := c.shard[aws.ToString(in.ShardIterator)]
	c.calls[sh] = append(c.calls[sh], time.Now())
	c.mu.Unlock()
	out, err := c.API.GetRecords(ctx, in, o...)
	if err == nil {
		var n int64
		for _, r := range out.Records {
			n += int64(len(r.Data) + len(aws.ToString(r.PartitionKey)))
		}
		c.mu.Lock()
		c.bytes[sh] += n
		if out.NextShardIterator != nil {
			c.shard[*out.NextShardIterator] = sh
		}
		c.mu.Unlock()
	}
	return out, err
}

// TestRateLimits measures GetRecords calls per shard against kinesalite: with minFetchPeriod
// 200ms no shard is called more than 5 times in any second, and with a low maxFetchRate the
// bytes per shard stay near it. The bounds are generous; only an unpaced source fails them.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	payload := bytes.Repeat([]byte("x"), 1000)
	recs := make([]localaws.Record, 4000)
	for i := range recs {
		recs[i] = localaws.Record{PartitionKey: fmt.Sprintf("k%d", i%16), Data: payload}
	}
	localaws.PutRecords(t, c, name, recs)

	run := func(o Options, d time.Duration) *countingAPI {
		api := newCountingAPI(c)
		o.Client, o.AWSConfig = api, nil
		o.InitialPosition = InitialPosition{Kind: TrimHorizon}
		o.MaxFetchDuration = time.Hour // nothing is released: the buffer does not matter
		s, _ := openSource(t, o)
		if _, err := s.InitialOffset(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		s.Close(t.Context())
		return api
	}

	t.Run("calls", func(t *testing.T) {
		o := fastOptions(ep, name)
		o.MaxRecordsPerFetch = 5 // each call returns 5 KB: only minFetchPeriod paces
		api := run(o, 3*time.Second)
		if len(api.calls) != 2 {
			t.Fatalf("calls per shard: %v", api.calls)
		}
		for sh, calls := range api.calls {
			for i := range calls {
				n := 0
				for _, x := range calls[i:] {
					if x.Sub(calls[i]) < time.Second {
						n++
					}
				}
				// 5 per second; one more allowed for the jitter of measuring in the client.
				if n > 6 {
					t.Errorf("shard %s: %d GetRecords calls within a second", sh, n)
				}
			}
			if len(calls) > 17 || len(calls) < 5 {
				t.Errorf("shard %s: %d calls in 3s, want about 15", sh, len(calls))
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		o := fastOptions(ep, name)
		o.MaxFetchRate = 0.05 // 52 KB/s
		o.MaxRecordsPerFetch = 20
		api := run(o, 3*time.Second)
		for sh, n := range api.bytes {
			// 3 s at 52 KB/s, one second's allowance and one answer (20 KB) of overshoot.
			if limit := int64(o.MaxFetchRate*MiB*4) + 20*1016; n > limit {
				t.Errorf("shard %s: %d bytes in 3s, limit %d", sh, n, limit)
			}
			if n == 0 {
				t.Errorf("shard %s: nothing read", sh)
			}
		}
	})
}

// TestAvailableNowLocal: records that arrive after PrepareForAvailableNow are not read.
func TestAvailableNowLocal(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	want := records("now", 1500, 20)
	localaws.PutRecords(t, c, name, want)
	o := fastOptions(ep, name)
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = 200
	s, _ := openSource(t, o)
	if err := s.PrepareForAvailableNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	localaws.PutRecords(t, c, name, records("later", 500, 20))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cur, err := s.InitialOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for {
		got, end := step(t, ctx, s, cur)
		if bytes.Equal(end, cur) {
			break
		}
		rows = append(rows, got...)
		cur = end
	}
	checkExactlyOnce(t, rows, want)
}

var _ = types.StreamStatusActive
