package file_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sinks"
	filesink "github.com/sluicedev/sluice/sinks/file"
)

// eventSchema is the schema most tests write: an ID, a day to partition by, a country that
// may be null, a payload and a timestamp.
var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "day", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "payload", Type: arrow.BinaryTypes.Binary},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

var days = []string{"2024-05-01", "2024-05-02", "2024-05-03"}
var countries = []string{"DE", "FR", "", "a/b=c"} // "" stands for null

// events builds rows first..first+n-1 of eventSchema; row i is in day i%3 and country i%4.
func events(mem memory.Allocator, first, n int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, eventSchema)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(i)
		b.Field(1).(*array.StringBuilder).Append(days[i%3])
		if c := countries[i%4]; c == "" {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(c)
		}
		b.Field(3).(*array.BinaryBuilder).Append([]byte(fmt.Sprintf(`{"n":%d}`, i)))
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + i))
	}
	return b.NewRecordBatch()
}

// open builds and opens a sink for eventSchema.
func open(t *testing.T, mem memory.Allocator, o filesink.Options) *filesink.Sink {
	t.Helper()
	s, err := filesink.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), sinks.Info{QueryID: "q", Schema: eventSchema, OutputMode: sinks.Append, Allocator: mem, Logger: testkit.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// writeBatch writes the given row ranges as batch id and commits it.
func writeBatch(t *testing.T, mem memory.Allocator, s *filesink.Sink, id int64, ranges ...[2]int64) {
	t.Helper()
	w, err := s.Begin(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		rec := events(mem, r[0], r[1])
		err := w.Write(t.Context(), rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// readParquet opens a Parquet file with pqarrow and returns its table's schema and rows.
func readParquet(t *testing.T, mem memory.Allocator, data []byte) (*arrow.Schema, []map[string]any) {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1024}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1000)
	defer tr.Release()
	var rows []map[string]any
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				row[f.Name] = goValue(rec.Column(c), i)
			}
			rows = append(rows, row)
		}
	}
	return tbl.Schema(), rows
}

func goValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch c := a.(type) {
	case *array.Int64:
		return c.Value(i)
	case *array.String:
		return c.Value(i)
	case *array.Binary:
		return string(c.Value(i))
	case *array.Timestamp:
		return int64(c.Value(i))
	}
	return a.ValueStr(i)
}

// readJSON parses newline-delimited JSON, gunzipping if needed.
func readJSON(t *testing.T, data []byte, gz bool) []map[string]any {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var rows []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// committedIDs reads every committed file of the table at path and returns the id column's
// values, in file order, with duplicates.
func committedIDs(t *testing.T, mem memory.Allocator, path string, optFns ...func(*filesink.Options)) []int64 {
	t.Helper()
	return committedInts(t, mem, path, "id", optFns...)
}

// committedInts reads every committed file of the table at path and returns the values of an
// int64 column, in file order, with duplicates.
func committedInts(t *testing.T, mem memory.Allocator, path, col string, optFns ...func(*filesink.Options)) []int64 {
	t.Helper()
	tbl, err := filesink.ReadManifest(t.Context(), path, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, f := range tbl.Files() {
		data, err := tbl.ReadFile(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f.Path, ".json") {
			for _, row := range readJSON(t, data, strings.HasSuffix(f.Path, ".gz")) {
				n, _ := row[col].(json.Number).Int64()
				ids = append(ids, n)
			}
			continue
		}
		_, rows := readParquet(t, mem, data)
		for _, r := range rows {
			ids = append(ids, r[col].(int64))
		}
	}
	return ids
}

// s3Bucket creates a bucket on s3rver for the test and returns the options that reach it.
func s3Bucket(t *testing.T) (bucket string, opt func(*filesink.Options)) {
	t.Helper()
	ep := localaws.S3Endpoint(t)
	cfg := localaws.AWSConfig(ep)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	bucket = "sluice-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return bucket, func(o *filesink.Options) {
		o.Endpoint = ep
		o.PathStyleAccess = true
		o.AWSConfig = &cfg
	}
}

// s3Keys lists every key of a bucket.
func s3Keys(t *testing.T, bucket string) []string {
	t.Helper()
	ep := localaws.S3Endpoint(t)
	client := s3.NewFromConfig(localaws.AWSConfig(ep), func(o *s3.Options) { o.UsePathStyle = true })
	out, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}
