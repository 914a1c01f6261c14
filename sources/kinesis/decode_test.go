package kinesis

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
)

// kplVector is what the tests use of a testdata/kpl sidecar (copied from the shared vectors;
// see testdata/kpl/README.md).
type kplVector struct {
	File        string `json:"file"`
	OuterRecord *struct {
		PartitionKey string `json:"partitionKey"`
	} `json:"outerRecord"`
	UserRecords         []kplUser `json:"userRecords"`
	Expected            []kplUser `json:"expected"`
	ExpectedWhenLenient []kplUser `json:"expectedWhenLenient"`
}

type kplUser struct {
	SubSequenceNumber int    `json:"subSequenceNumber"`
	PartitionKey      string `json:"partitionKey"`
	Data              string `json:"dataBase64"`
}

// kplVectors returns every vector: its name, data, outer partition key and the user records a
// consumer must see.
func kplVectors(t *testing.T) (names []string, data map[string][]byte, outer map[string]string, want map[string][]kplUser) {
	t.Helper()
	files, err := filepath.Glob("testdata/kpl/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	data, outer, want = map[string][]byte{}, map[string]string{}, map[string][]kplUser{}
	// The neg-* sidecars name the outer key only in their expected output.
	negOuter := map[string]string{"neg-bad-md5": "pk-0", "neg-plain": "<outer>"}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		js, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v kplVector
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b, err := os.ReadFile(filepath.Join("testdata/kpl", v.File))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		data[name] = b
		switch {
		case v.OuterRecord != nil:
			outer[name] = v.OuterRecord.PartitionKey
			want[name] = v.UserRecords
		case v.Expected != nil:
			outer[name], want[name] = negOuter[name], v.Expected
		default:
			outer[name], want[name] = negOuter[name], v.ExpectedWhenLenient
		}
		if outer[name] == "" || len(want[name]) == 0 {
			t.Fatalf("%s: no outer key or expected records", name)
		}
	}
	return names, data, outer, want
}

// TestDecodeKPLVectors decodes each vector as the data of one Kinesis record.
func TestDecodeKPLVectors(t *testing.T) {
	names, data, outer, want := kplVectors(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := decoder{mem: mem, stream: "s", shard: "shardId-000000000000"}
	for _, name := range names {
		seq := "49650000000000000000000000000000000000000000000000000042"
		recs := []types.Record{{Data: data[name], PartitionKey: aws.String(outer[name]), SequenceNumber: aws.String(seq), ApproximateArrivalTimestamp: aws.Time(time.UnixMilli(1700000000123))}}
		out := d.decode(recs, trimHorizon(), trimHorizon(), nil)
		var got []kplUser
		if out.blk.rec != nil {
			for i, r := range rowsOf(out.blk.rec) {
				got = append(got, kplUser{int(out.blk.sub(i)), r.PartitionKey, base64.StdEncoding.EncodeToString([]byte(r.Data))})
				if r.Seq != seq || r.Stream != "s" || r.ShardID != "shardId-000000000000" || !r.Arrival.Equal(time.UnixMilli(1700000000123)) {
					t.Errorf("%s: row %d: %+v", name, i, r)
				}
			}
		}
		if diff := cmp.Diff(want[name], got); diff != "" {
			t.Errorf("%s: user records (-want +got):\n%s", name, diff)
		}
		if n := len(want[name]); out.blk.to != after(seq, int64(want[name][n-1].SubSequenceNumber)) {
			t.Errorf("%s: block ends at %s", name, out.blk.to)
		}
		out.blk.release()
	}
}

// TestDecodeBounds reads parts of an aggregate between positions.
func TestDecodeBounds(t *testing.T) {
	_, data, outer, want := kplVectors(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := decoder{mem: mem, stream: "s", shard: "sh"}
	s1, s2, s3 := "100", "200", "300"
	recs := []types.Record{
		{Data: []byte("x"), PartitionKey: aws.String("p"), SequenceNumber: aws.String(s1)},
		{Data: data["agg-100x1k"], PartitionKey: aws.String(outer["agg-100x1k"]), SequenceNumber: aws.String(s2)},
		{Data: []byte("y"), PartitionKey: aws.String("p"), SequenceNumber: aws.String(s3)},
	}
	hi := func(p position) *position { return &p }
	for _, tt := range []struct {
		lo     position
		hi     *position
		rows   int
		beyond bool
	}{
		{trimHorizon(), nil, 102, false},
		{after(s1, 0), nil, 101, false},
		{after(s2, 9), nil, 91, false},
		{after(s2, 99), nil, 1, false},
		{trimHorizon(), hi(after(s2, 9)), 11, true},
		{after(s2, 9), hi(after(s2, 19)), 10, true},
		{after(s2, 9), hi(after(s3, 0)), 91, true},
		{after(s1, 0), hi(closedPos()), 101, false},
	} {
		out := d.decode(recs, tt.lo, tt.lo, tt.hi)
		if out.blk.rows() != tt.rows || out.beyond != tt.beyond {
			t.Errorf("lo %s hi %v: %d rows, beyond %v; want %d, %v", tt.lo, tt.hi, out.blk.rows(), out.beyond, tt.rows, tt.beyond)
		}
		if out.blk.rec != nil {
			b := out.blk
			// firstAfter and slice agree with the positions.
			if k := b.firstAfter(after(s2, 49)); k < b.rows() && b.posOf(k) != after(s2, 50) && tt.lo.before(after(s2, 49)) {
				t.Errorf("firstAfter: row %d is %s", k, b.posOf(k))
			}
			half, first := b.slice(b.rows()/2, b.rows()), b.slice(0, b.rows()/2)
			if half.bytes+first.bytes != b.bytes || half.from != first.to {
				t.Error("slices do not add up")
			}
			half.release()
			first.release()
		}
		out.blk.release()
	}
	_ = want
}

// BenchmarkDecode measures the source's own decoding: one GetRecords answer of 10,000 records
// of 1 KB into an Arrow batch (the SDK's JSON decoding is not included).
func BenchmarkDecode(b *testing.B) {
	recs := make([]types.Record, 10000)
	data := make([]byte, 1000)
	now := time.Now()
	for i := range recs {
		recs[i] = types.Record{Data: data, PartitionKey: aws.String("user-" + strings.Repeat("x", i%8)),
			SequenceNumber: aws.String("4965000000000000" + strings.Repeat("0", 34) + "123456"), ApproximateArrivalTimestamp: aws.Time(now)}
	}
	d := decoder{mem: memory.NewGoAllocator(), stream: "bench", shard: "shardId-000000000000"}
	b.ReportAllocs()
	b.SetBytes(int64(len(recs) * len(data)))
	for b.Loop() {
		out := d.decode(recs, trimHorizon(), trimHorizon(), nil)
		out.blk.release()
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
