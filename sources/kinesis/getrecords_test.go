package kinesis

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/kpl"
)

// cannedHTTP is an aws.HTTPClient that answers every request with the same response.
type cannedHTTP struct {
	status int
	body   []byte
	header http.Header
	// cut, if positive, makes the body fail after that many bytes, as a connection closed
	// under the SDK does.
	cut int
}

func (c *cannedHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"canned"}}
	for k, v := range c.header {
		h[k] = v
	}
	var body io.Reader = bytes.NewReader(c.body)
	n := int64(len(c.body))
	if c.cut > 0 {
		body = io.MultiReader(bytes.NewReader(c.body[:c.cut]), errReader{errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")})
	}
	return &http.Response{StatusCode: c.status, Status: http.StatusText(c.status), Header: h, Body: io.NopCloser(body), ContentLength: n, Request: req}, nil
}

// cannedClient returns a Kinesis client, set up as the source sets up its own, whose every
// call gets the canned answer.
func cannedClient(h *cannedHTTP) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String("http://kinesis.test"),
		HTTPClient:   h,
		Retryer:      aws.NopRetryer{},
	})
}

// sdkOnly hides that an API is a *kinesis.Client, so the source decodes its answers the
// SDK's way (decoder.decode of GetRecordsOutput.Records).
type sdkOnly struct{ API }

var testIn = &kinesis.GetRecordsInput{ShardIterator: aws.String("it"), Limit: aws.Int32(10000)}

// viaSDK decodes a GetRecords body the way the source did before the hook: the SDK's
// deserializer, then the reference decoder.
func viaSDK(t testing.TB, mem memory.Allocator, body []byte, from, lo position, hi *position) (out *kinesis.GetRecordsOutput, d decoded, err error) {
	t.Helper()
	defer func() {
		// The SDK panics on some bodies (an ApproximateArrivalTimestamp of "NaN").
		if r := recover(); r != nil {
			err = fmt.Errorf("the SDK panicked: %v", r)
		}
	}()
	out, err = cannedClient(&cannedHTTP{status: 200, body: body}).GetRecords(context.Background(), testIn)
	if err != nil {
		return nil, decoded{}, err
	}
	ref := decoder{mem: mem, stream: "s", shard: "shardId-000000000007"}
	return out, decodeReference(&ref, out.Records, from, lo, hi), nil
}

// viaHook decodes a GetRecords body as the source does now, through the hook.
func viaHook(t testing.TB, mem memory.Allocator, body []byte, from, lo position, hi *position) (answer, error) {
	t.Helper()
	s := &Source{api: cannedClient(&cannedHTTP{status: 200, body: body})}
	dec := decoder{mem: mem, stream: "s", shard: "shardId-000000000007"}
	return s.getRecords(context.Background(), &dec, testIn, from, lo, hi)
}

// sameAnswer reports how the hook's answer differs from the SDK's.
func sameAnswer(sdkOut *kinesis.GetRecordsOutput, sdk decoded, got answer) string {
	var diffs []string
	add := func(what string, d string) {
		if d != "" {
			diffs = append(diffs, what+" (-sdk +hook):\n"+d)
		}
	}
	add("next", cmp.Diff(sdkOut.NextShardIterator, got.next))
	add("msBehind", cmp.Diff(sdkOut.MillisBehindLatest, got.msBehind))
	if len(sdkOut.Records) != got.records {
		diffs = append(diffs, fmt.Sprintf("records: sdk %d, hook %d", len(sdkOut.Records), got.records))
	}
	var n int64
	for _, r := range sdkOut.Records {
		n += int64(len(r.Data) + len(deref(r.PartitionKey)))
	}
	if n != got.bytes {
		diffs = append(diffs, fmt.Sprintf("bytes: sdk %d, hook %d", n, got.bytes))
	}
	add("block", sameBlock(sdk, got.decoded))
	return strings.Join(diffs, "\n")
}

// sameBlock reports how two decoded blocks differ, down to the Arrow arrays.
func sameBlock(want, got decoded) string {
	w, g := want.blk, got.blk
	if want.beyond != got.beyond {
		return fmt.Sprintf("beyond %v, want %v", got.beyond, want.beyond)
	}
	if d := cmp.Diff(
		[]any{w.from.String(), w.to.String(), w.bytes, w.maxArrival, w.rows()},
		[]any{g.from.String(), g.to.String(), g.bytes, g.maxArrival, g.rows()}); d != "" {
		return "from, to, bytes, maxArrival, rows: " + d
	}
	if w.rec == nil {
		return ""
	}
	if !g.rec.Schema().Equal(Schema) {
		return "schema " + g.rec.Schema().String()
	}
	if d := cmp.Diff(rowsOf(w.rec), rowsOf(g.rec)); d != "" {
		return "rows: " + d
	}
	if d := cmp.Diff(w.subs, g.subs); d != "" {
		return "subs: " + d
	}
	if !array.RecordEqual(w.rec, g.rec) {
		return "the batches are not equal"
	}
	return ""
}

// wire is a GetRecords answer as Kinesis writes it, for encoding/json.
type wire struct {
	Records            []wireRecord `json:"Records"`
	NextShardIterator  *string      `json:"NextShardIterator,omitempty"`
	MillisBehindLatest *int64       `json:"MillisBehindLatest,omitempty"`
	ChildShards        []wireChild  `json:"ChildShards,omitempty"`
}

type wireRecord struct {
	SequenceNumber              *string      `json:"SequenceNumber,omitempty"`
	ApproximateArrivalTimestamp *json.Number `json:"ApproximateArrivalTimestamp,omitempty"`
	Data                        []byte       `json:"Data"`
	PartitionKey                *string      `json:"PartitionKey,omitempty"`
	EncryptionType              string       `json:"EncryptionType,omitempty"`
}

type wireChild struct {
	ShardId      string   `json:"ShardId"`
	ParentShards []string `json:"ParentShards"`
	HashKeyRange struct {
		StartingHashKey, EndingHashKey string
	} `json:"HashKeyRange"`
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func num(s string) *json.Number { n := json.Number(s); return &n }

// TestGetRecordsBodies decodes hand-written answers both ways: the hook gives what the SDK and
// the decoder before it gave.
func TestGetRecordsBodies(t *testing.T) {
	_, kdata, kouter, _ := kplVectors(t)
	agg := base64.StdEncoding.EncodeToString(kdata["agg-100x1k"])
	for _, tt := range []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"no records", `{"Records":[],"NextShardIterator":"AAA","MillisBehindLatest":0}`},
		{"shard end", `{"Records":[],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000003","ParentShards":["shardId-000000000001"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"}}]}`},
		{"one record", `{"Records":[{"SequenceNumber":"49650000000000000000000000000000000000000000000000000042","ApproximateArrivalTimestamp":1.700000060123E9,"Data":"aGVsbG8=","PartitionKey":"k1"}],"NextShardIterator":"x","MillisBehindLatest":12}`},
		{"members in any order, white space", "{ \"MillisBehindLatest\" : 5 ,\n \"Records\" : [ { \"PartitionKey\" : \"k\" , \"Data\" : \"AQID\" ,\t\"ApproximateArrivalTimestamp\" : 1700000000 , \"SequenceNumber\" : \"1\" } ] , \"NextShardIterator\" : \"n\" }\r\n"},
		{"escapes in keys and values", `{"Records":[{"Sequence\u004eumber":"2","PartitionKey":"a\/b\"c\\d\u00e9\ud83d\ude00\n\t\u2028","Data":"a\/8=","ApproximateArrivalTimestamp":1.5}],"NextShardIterator":"n\/x"}`},
		{"lone surrogates", `{"Records":[{"SequenceNumber":"3","PartitionKey":"\ud800x\udc00\ud800\u0041","Data":""}]}`},
		{"invalid UTF-8", "{\"Records\":[{\"SequenceNumber\":\"4\",\"PartitionKey\":\"a\xffb\",\"Data\":\"\"},{\"SequenceNumber\":\"5\",\"PartitionKey\":\"a\xff\\u0041\",\"Data\":\"\"}]}"},
		{"escaped line break in data", `{"Records":[{"SequenceNumber":"6","Data":"aGVs\nbG8=","PartitionKey":"p"}]}`},
		{"nulls", `{"Records":[null,{"SequenceNumber":"7","Data":null,"PartitionKey":null,"ApproximateArrivalTimestamp":null,"EncryptionType":null}],"NextShardIterator":null,"MillisBehindLatest":null}`},
		{"empty record", `{"Records":[{}]}`},
		{"unknown members", `{"Foo":{"a":[1,2,{"b":null}],"c":"\u0041"},"Records":[{"X":[[],{}],"SequenceNumber":"8","Data":"AA==","Y":-1.5e-3,"PartitionKey":"p","Z":true,"EncryptionType":"KMS"}],"Bar":false}`},
		{"repeated members", `{"Records":[{"SequenceNumber":"1"}],"Records":[{"SequenceNumber":"9","Data":"AQ==","Data":"AgI=","PartitionKey":"a","PartitionKey":"b","Data":null}],"Records":null}`},
		{"timestamps", `{"Records":[{"SequenceNumber":"10","ApproximateArrivalTimestamp":1700000000.001},{"SequenceNumber":"11","ApproximateArrivalTimestamp":-1.5},{"SequenceNumber":"12","ApproximateArrivalTimestamp":1e300},{"SequenceNumber":"13","ApproximateArrivalTimestamp":"-Infinity"},{"SequenceNumber":"14","ApproximateArrivalTimestamp":0.0005},{"SequenceNumber":"15","ApproximateArrivalTimestamp":123456789012345678901234567890}]}`},
		{"KPL aggregate", `{"Records":[{"SequenceNumber":"16","Data":"` + agg + `","PartitionKey":"` + kouter["agg-100x1k"] + `","ApproximateArrivalTimestamp":1.7e9},{"SequenceNumber":"17","Data":"eA==","PartitionKey":"after"}],"NextShardIterator":"n"}`},
		{"KPL aggregate, escaped", `{"Records":[{"SequenceNumber":"16","Data":"84m\u0061` + strings.ReplaceAll(agg[4:], "/", `\/`) + `","PartitionKey":"p"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			body := []byte(tt.body)
			sdkOut, sdk, err := viaSDK(t, mem, body, trimHorizon(), trimHorizon(), nil)
			if err != nil {
				t.Fatalf("the SDK: %v", err)
			}
			defer sdk.blk.release()
			got, err := viaHook(t, mem, body, trimHorizon(), trimHorizon(), nil)
			if err != nil {
				t.Fatalf("the hook: %v", err)
			}
			defer got.blk.release()
			if d := sameAnswer(sdkOut, sdk, got); d != "" {
				t.Error(d)
			}
		})
	}
	// The SDK's ChildShards come through the hook.
	body := `{"Records":[{"SequenceNumber":"1","Data":"AA=="}],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000003","ParentShards":["shardId-000000000001"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"}}]}`
	call := &arrowCall{dec: &decoder{mem: memory.NewGoAllocator(), stream: "s", shard: "sh"}, from: trimHorizon(), lo: trimHorizon()}
	out, err := cannedClient(&cannedHTTP{status: 200, body: []byte(body)}).GetRecords(t.Context(), testIn, call.option)
	if err != nil || !call.done || len(out.ChildShards) != 1 || aws.ToString(out.ChildShards[0].ShardId) != "shardId-000000000003" || len(out.Records) != 0 {
		t.Errorf("ChildShards: %+v, %v, done %v", out, err, call.done)
	}
	call.release()
}

// TestKPLPrefix: the base64 of every aggregate starts with kplPrefix.
func TestKPLPrefix(t *testing.T) {
	var a kpl.Aggregator
	for i := range 20 {
		if err := a.Add("k", "", bytes.Repeat([]byte{byte(i)}, i)); err != nil {
			t.Fatal(err)
		}
		_, _, data := a.Flush()
		if s := base64.StdEncoding.EncodeToString(data); !strings.HasPrefix(s, kplPrefix) || !maybeAggregate([]byte(s)) {
			t.Fatalf("%s", s)
		}
	}
	if maybeAggregate([]byte("84ma")) || maybeAggregate([]byte("aGVsbG8=")) || !maybeAggregate([]byte(`84m\u`)) {
		t.Error("maybeAggregate")
	}
}

// TestGetRecordsBounds decodes an answer with KPL aggregates between positions both ways.
func TestGetRecordsBounds(t *testing.T) {
	_, kdata, kouter, _ := kplVectors(t)
	s1, s2, s3 := "100", "200", "300"
	body := mustJSON(t, wire{Records: []wireRecord{
		{SequenceNumber: &s1, Data: []byte("x"), PartitionKey: aws.String("p"), ApproximateArrivalTimestamp: num("1700000000.5")},
		{SequenceNumber: &s2, Data: kdata["agg-100x1k"], PartitionKey: aws.String(kouter["agg-100x1k"]), ApproximateArrivalTimestamp: num("1700000001.25")},
		{SequenceNumber: &s3, Data: []byte("y"), PartitionKey: aws.String("p"), ApproximateArrivalTimestamp: num("1700000002")},
	}, NextShardIterator: aws.String("n")})
	hi := func(p position) *position { return &p }
	for _, tt := range []struct {
		lo position
		hi *position
	}{
		{trimHorizon(), nil},
		{after(s1, 0), nil},
		{after(s2, 9), nil},
		{after(s2, 99), nil},
		{after(s3, 0), nil},
		{trimHorizon(), hi(after(s2, 9))},
		{after(s2, 9), hi(after(s2, 19))},
		{after(s2, 9), hi(after(s3, 0))},
		{after(s1, 0), hi(closedPos())},
		{after("150", 0), hi(after("250", 0))},
	} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		sdkOut, sdk, err := viaSDK(t, mem, body, tt.lo, tt.lo, tt.hi)
		if err != nil {
			t.Fatal(err)
		}
		got, err := viaHook(t, mem, body, tt.lo, tt.lo, tt.hi)
		if err != nil {
			t.Fatal(err)
		}
		if d := sameAnswer(sdkOut, sdk, got); d != "" {
			t.Errorf("lo %s hi %v: %s", tt.lo, tt.hi, d)
		}
		sdk.blk.release()
		got.blk.release()
		mem.AssertSize(t, 0)
	}
}

// TestGetRecordsMalformed: a body that is not a GetRecords answer is a deserialization error
// (transient for the source) that names the shard and the byte; nothing leaks.
func TestGetRecordsMalformed(t *testing.T) {
	for _, tt := range []struct {
		body string
		want string // in the error
	}{
		{`{"Records":[{"SequenceNumber":"1","Data":"AA=="}]`, "byte 49: unexpected end of the answer; expected ',' or '}'"},
		{`{"Records":[{"SequenceNumber":"1","Data":"AA==}]}`, "byte 41: unterminated string"},
		{`{"Records":[{"SequenceNumber":1}]}`, "byte 30: expected SequenceNumber, a string, found '1'"},
		{`{"Records":[{"Data":"%%%="}]}`, "byte 20: Data: not valid base64: illegal base64 data at input byte 0"},
		{`{"Records":[{"Data":"AA=","PartitionKey":"p"}]}`, "byte 20: Data: not valid base64"},
		{`{"Records":[{"Data":"0","Data":"AA=="}]}`, "byte 20: Data: not valid base64"},
		{"{\"Records\":[{\"Data\":\"AA\nA=\"}]}", "byte 20: Data: control character at byte 2 of a string"},
		{`{"Records":[{"Data":"A\qA="}]}`, "byte 20: Data: invalid escape at byte 1 of a string"},
		{`{"Records":[{"PartitionKey":"a\x"}]}`, "byte 30: invalid escape in a string"},
		{`{"Records":[{"PartitionKey":"a\u12"}]}`, "byte 30: invalid escape in a string"},
		{"{\"Records\":[{\"PartitionKey\":\"a\x01\"}]}", "byte 30: control character in a string"},
		{`{"Records":[{"ApproximateArrivalTimestamp":01}]}`, "byte 43: number with a leading zero"},
		{`{"Records":[{"ApproximateArrivalTimestamp":1.}]}`, "byte 45: expected a digit, found '}'"},
		{`{"Records":[{"ApproximateArrivalTimestamp":1e999}]}`, "byte 43: ApproximateArrivalTimestamp out of range"},
		{`{"Records":[{"ApproximateArrivalTimestamp":"NaN"}]}`, "byte 43: ApproximateArrivalTimestamp is a string"},
		{`{"Records":[{"ApproximateArrivalTimestamp":true}]}`, "byte 43: expected a number, found 't'"},
		{`{"Records":[1]}`, "byte 12: expected a record (an object), found '1'"},
		{`{"Records":{}}`, "byte 11: expected Records, an array, found '{'"},
		{`{"Records":[],}`, "byte 14: expected a member name, found '}'"},
		{`{"Records":[] "x":1}`, "byte 14: expected ',' or '}', found '\"'"},
		{`{"X":[1,2}`, "byte 9: expected ',' or ']', found '}'"},
		{`{"X":{"a" 1}}`, "byte 10: expected ':', found '1'"},
		{`{"X":nul}`, "byte 5: expected null, found 'n'"},
		{`{"X":-}`, "byte 6: expected a digit, found '}'"},
		{`{"X":+1}`, "byte 5: expected a value, found '+'"},
		{`{"Records":[]}x`, "byte 14: data after the answer"},
		{`[]`, "byte 0: expected an object, found '['"},
		{" ", "byte 1: unexpected end of the answer; expected an object"},
		{`{"X":` + strings.Repeat("[", maxDepth+1), "nested too deeply"},
	} {
		t.Run(tt.body, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			_, err := viaHook(t, mem, []byte(tt.body), trimHorizon(), trimHorizon(), nil)
			var de *smithy.DeserializationError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "s/shardId-000000000007") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant a DeserializationError with %q", err, tt.want)
			}
			if err != nil && classify(err) != classTransient {
				t.Errorf("classified %d", classify(err))
			}
		})
	}
}

// TestGetRecordsErrorAnswers: error answers are the SDK's typed errors with the hook in place,
// and a body cut short is transient.
func TestGetRecordsErrorAnswers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dec := decoder{mem: mem, stream: "s", shard: "sh"}
	for _, tt := range []struct {
		status int
		typ    string
		class  errClass
	}{
		{400, "ProvisionedThroughputExceededException", classThrottled},
		{400, "KMSThrottlingException", classThrottled},
		{400, "ExpiredIteratorException", classExpired},
		{400, "AccessDeniedException", classDenied},
		{400, "ResourceNotFoundException", classNotFound},
		{500, "InternalFailure", classTransient},
		{503, "ServiceUnavailable", classTransient},
	} {
		h := &cannedHTTP{status: tt.status, body: fmt.Appendf(nil, `{"__type":%q,"message":"injected"}`, tt.typ), header: http.Header{"X-Amzn-Errortype": {tt.typ}}}
		s := &Source{api: cannedClient(h)}
		_, err := s.getRecords(t.Context(), &dec, testIn, trimHorizon(), trimHorizon(), nil)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.typ || classify(err) != tt.class {
			t.Errorf("%d %s: %v (class %d)", tt.status, tt.typ, err, classify(err))
		}
	}
	body := []byte(`{"Records":[{"SequenceNumber":"1","Data":"AAAA"},{"SequenceNumber":"2","Data":"AAAA"}],"NextShardIterator":"n"}`)
	s := &Source{api: cannedClient(&cannedHTTP{status: 200, body: body, cut: 40})}
	_, err := s.getRecords(t.Context(), &dec, testIn, trimHorizon(), trimHorizon(), nil)
	if err == nil || classify(err) != classTransient || !strings.Contains(err.Error(), "use of closed network connection") {
		t.Errorf("cut short: %v", err)
	}
}

// TestGetRecordsOtherAPIs: an API that is not a *kinesis.Client is decoded from its
// GetRecordsOutput, with the same result.
func TestGetRecordsOtherAPIs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	body := fakeBody(t, 0, 50, 100)
	dec := decoder{mem: mem, stream: "s", shard: "shardId-000000000007"}
	fast, err := (&Source{api: cannedClient(&cannedHTTP{status: 200, body: body})}).getRecords(t.Context(), &dec, testIn, trimHorizon(), trimHorizon(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.blk.release()
	slow, err := (&Source{api: sdkOnly{cannedClient(&cannedHTTP{status: 200, body: body})}}).getRecords(t.Context(), &dec, testIn, trimHorizon(), trimHorizon(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.blk.release()
	if d := sameBlock(slow.decoded, fast.decoded); d != "" || fast.records != 50 || slow.records != 50 || fast.bytes != slow.bytes || *fast.next != *slow.next {
		t.Errorf("%s; records %d/%d bytes %d/%d", d, fast.records, slow.records, fast.bytes, slow.bytes)
	}
}

// fakeBody returns a GetRecords answer like the benchmark's fake server's: n records of size
// bytes of JSON text, from record first.
func fakeBody(t testing.TB, first, n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = "abcdefghijklmnopqrstuvwxyz {}:\","[rng.IntN(32)]
		}
		fmt.Fprintf(&b, `{"SequenceNumber":"4965%052d","ApproximateArrivalTimestamp":1700000060.123,"Data":"%s","PartitionKey":"user-%d"}`,
			i, base64.StdEncoding.EncodeToString(data), i%1000)
	}
	fmt.Fprintf(&b, `],"NextShardIterator":"0-%d","MillisBehindLatest":0}`, first+n)
	return b.Bytes()
}

// TestGetRecordsAllocs: decoding a scanned answer allocates per answer, not per record.
func TestGetRecordsAllocs(t *testing.T) {
	body := fakeBody(t, 0, 10000, 1000)
	dec := decoder{mem: memory.NewGoAllocator(), stream: "bench", shard: "shardId-000000000000"}
	decodeBody(t, &dec, body) // warm the pool
	allocs := testing.AllocsPerRun(5, func() { decodeBody(t, &dec, body) })
	if allocs > 100 {
		t.Errorf("%.0f allocations for 10,000 records", allocs)
	}
}

// decodeBody scans and builds a body without HTTP, as recordsDeserializer does.
func decodeBody(t testing.TB, dec *decoder, body []byte) {
	sc := getScratch()
	defer putScratch(sc)
	if err := sc.scan(body); err != nil {
		t.Fatal(err)
	}
	d, _, err := dec.build(sc, sc.recs, true, trimHorizon(), trimHorizon(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.blk.release()
}

// BenchmarkDecodeBody measures the hook's decoding alone: one GetRecords body of 10,000
// records of 1 KB (as JSON text) scanned and built into an Arrow batch, without HTTP.
func BenchmarkDecodeBody(b *testing.B) {
	body := fakeBody(b, 0, 10000, 1000)
	dec := decoder{mem: memory.NewGoAllocator(), stream: "bench", shard: "shardId-000000000000"}
	b.ReportAllocs()
	b.SetBytes(10000 * 1000)
	for b.Loop() {
		decodeBody(b, &dec, body)
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "records/s")
}

// decodeReference is decoder.decode as it was before the hook (array builders), kept as the
// reference the new decoding is compared with.
func decodeReference(d *decoder, recs []types.Record, from, lo position, hi *position) decoded {
	bld := array.NewRecordBuilder(d.mem, Schema)
	defer bld.Release()
	pkB := bld.Field(colPartitionKey).(*array.StringBuilder)
	dataB := bld.Field(colData).(*array.BinaryBuilder)
	streamB := bld.Field(colStream).(*array.StringBuilder)
	shardB := bld.Field(colShardID).(*array.StringBuilder)
	seqB := bld.Field(colSequenceNumber).(*array.StringBuilder)
	tsB := bld.Field(colArrival).(*array.TimestampBuilder)
	blk := &block{from: from, to: from}
	var subs []int32
	rows, beyond := 0, false
	var seq string
	var ts int64
	checkLo := lo.kind == posAfter
	keep := func(sub int) bool {
		if checkLo && lo.covers(seq, int64(sub)) {
			return false
		}
		if hi != nil && hi.kind == posAfter && !hi.covers(seq, int64(sub)) {
			beyond = true
			return false
		}
		return true
	}
	appendRow := func(pk string, data []byte, sub int) {
		pkB.Append(pk)
		dataB.Append(data)
		streamB.Append(d.stream)
		shardB.Append(d.shard)
		seqB.Append(seq)
		tsB.Append(arrow.Timestamp(ts))
		if sub != 0 && subs == nil {
			subs = make([]int32, rows, rows+1)
		}
		if subs != nil {
			subs = append(subs, int32(sub))
		}
		rows++
		blk.bytes += int64(len(pk) + len(data))
		blk.maxArrival = max(blk.maxArrival, ts)
		blk.to = after(seq, int64(sub))
	}
	boundedHi := hi != nil && hi.kind == posAfter
	for i := range recs {
		r := &recs[i]
		seq = deref(r.SequenceNumber)
		ts = 0
		if r.ApproximateArrivalTimestamp != nil {
			ts = r.ApproximateArrivalTimestamp.UnixMicro()
		}
		if checkLo && cmpSeq(seq, lo.seq) < 0 {
			continue
		}
		last := false
		if boundedHi {
			switch c := cmpSeq(seq, hi.seq); {
			case c > 0:
				beyond = true
			case c == 0:
				last = true
			}
			if beyond {
				break
			}
		}
		_, err := kpl.Deaggregate(r.Data, func(sub int, pk, _ string, payload []byte) error {
			if keep(sub) {
				appendRow(pk, payload, sub)
			}
			return nil
		})
		if errors.Is(err, kpl.ErrNotAggregated) && keep(0) {
			appendRow(deref(r.PartitionKey), r.Data, 0)
		}
		if last {
			beyond = true
		}
		if beyond {
			break
		}
	}
	if rows > 0 {
		blk.rec = bld.NewRecordBatch()
		blk.subs = subs
	}
	return decoded{blk: blk, beyond: beyond}
}

// TestDecodeMatchesReference: decoder.decode (the path of APIs other than *kinesis.Client)
// builds what the reference decoder built, for random records with KPL aggregates and bounds.
func TestDecodeMatchesReference(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		recs := randomRecords(rng)
		var lo position
		var hi *position
		if len(recs) > 0 && rng.IntN(2) == 0 {
			lo = after(*recs[rng.IntN(len(recs))].SequenceNumber, int64(rng.IntN(4)))
		}
		if len(recs) > 0 && rng.IntN(2) == 0 {
			p := after(*recs[rng.IntN(len(recs))].SequenceNumber, int64(rng.IntN(4)))
			hi = &p
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		d := decoder{mem: mem, stream: "st", shard: "shardId-000000000001"}
		want := decodeReference(&d, recs, trimHorizon(), lo, hi)
		got := d.decode(recs, trimHorizon(), lo, hi)
		if diff := sameBlock(want, got); diff != "" {
			t.Errorf("seed %d: %s", seed, diff)
		}
		want.blk.release()
		got.blk.release()
		mem.AssertSize(t, 0)
	}
}

// randomRecords makes up to 30 records with increasing sequence numbers; some are KPL
// aggregates of up to 5 user records, some lack fields.
func randomRecords(rng *rand.Rand) []types.Record {
	n := rng.IntN(31)
	recs := make([]types.Record, n)
	seq := 1000 + rng.IntN(1000)
	for i := range recs {
		seq += 1 + rng.IntN(3)
		r := types.Record{SequenceNumber: aws.String(strconv.Itoa(seq))}
		if rng.IntN(10) > 0 {
			r.PartitionKey = aws.String(randomString(rng, 12))
		}
		if rng.IntN(10) > 0 {
			r.ApproximateArrivalTimestamp = aws.Time(time.UnixMilli(1_700_000_000_000 + rng.Int64N(1_000_000)).UTC())
		}
		switch rng.IntN(4) {
		case 0:
			var a kpl.Aggregator
			for range 1 + rng.IntN(5) {
				a.Add(randomString(rng, 6)+"k", "", randomBytes(rng, 40))
			}
			_, _, r.Data = a.Flush()
		default:
			if rng.IntN(10) > 0 {
				r.Data = randomBytes(rng, 60)
			}
		}
		recs[i] = r
	}
	return recs
}

func randomBytes(rng *rand.Rand, max int) []byte {
	b := make([]byte, rng.IntN(max+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// randomString returns up to max runes, with characters JSON escapes.
func randomString(rng *rand.Rand, max int) string {
	const alphabet = "ab/\\\"é\n\t\x00\x1f\u2028😀"
	rs := []rune(alphabet)
	var sb strings.Builder
	for range rng.IntN(max + 1) {
		sb.WriteRune(rs[rng.IntN(len(rs))])
	}
	return sb.String()
}

// TestWordTricks checks hasByte and hasLess against byte-by-byte answers.
func TestWordTricks(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for range 100000 {
		var w [8]byte
		for i := range w {
			w[i] = []byte{'"', '\\', 0, 0x1f, 0x20, 0x7f, 0x80, 0xff, 'a', byte(rng.Uint32())}[rng.IntN(10)]
		}
		v := binary.LittleEndian.Uint64(w[:])
		for _, c := range []byte{'"', '\\'} {
			if (hasByte(v, c) != 0) != (bytes.IndexByte(w[:], c) >= 0) {
				t.Fatalf("hasByte(%x, %q)", w, c)
			}
		}
		if (hasLess(v, 0x20) != 0) != slices.ContainsFunc(w[:], func(b byte) bool { return b < 0x20 }) {
			t.Fatalf("hasLess(%x)", w)
		}
		// The lowest set bit is the first special byte.
		if m := hasLess(v, 0x20) | hasByte(v, '"') | hasByte(v, '\\'); m != 0 {
			first := slices.IndexFunc(w[:], func(b byte) bool { return b < 0x20 || b == '"' || b == '\\' })
			if got := bits.TrailingZeros64(m) / 8; got != first {
				t.Fatalf("%x: first special byte %d, want %d", w, got, first)
			}
		}
	}
}
