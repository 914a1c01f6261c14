package file_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sinks"
	filesink "github.com/sluicedev/sluice/sinks/file"
)

func seq(first, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

func sorted(v []int64) []int64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v
}

// TestParquetRoundTrip writes two Write calls as one batch per codec and reads the file back
// with pqarrow: same schema, same rows, the codec's extension.
func TestParquetRoundTrip(t *testing.T) {
	for _, codec := range []string{filesink.Snappy, filesink.Zstd, filesink.None} {
		t.Run(codec, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			dir := t.TempDir()
			o := filesink.DefaultOptions(filesink.Parquet)
			o.Path, o.Compression = dir, codec
			s := open(t, mem, o)
			writeBatch(t, mem, s, 0, [2]int64{0, 100}, [2]int64{100, 150})

			tbl, err := filesink.ReadManifest(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			files := tbl.Files()
			if len(tbl.Batches) != 1 || len(files) != 1 || files[0].Rows != 250 {
				t.Fatalf("manifest: %d batches, files %+v; want one file of 250 rows", len(tbl.Batches), files)
			}
			wantExt := map[string]string{filesink.Snappy: ".snappy.parquet", filesink.Zstd: ".zstd.parquet", filesink.None: ".parquet"}[codec]
			if !strings.HasSuffix(files[0].Path, wantExt) || !strings.HasPrefix(files[0].Path, "part-00000-00000-") {
				t.Errorf("file name %q; want part-00000-00000-<uuid>%s", files[0].Path, wantExt)
			}
			st, err := os.Stat(filepath.Join(dir, files[0].Path))
			if err != nil || st.Size() != files[0].Size {
				t.Errorf("file size %v (%v); manifest says %d", st, err, files[0].Size)
			}
			data, err := tbl.ReadFile(t.Context(), files[0])
			if err != nil {
				t.Fatal(err)
			}
			schema, rows := readParquet(t, mem, data)
			if !sameFields(schema, eventSchema) {
				t.Errorf("schema:\n%s\nwant\n%s", schema, eventSchema)
			}
			if len(rows) != 250 {
				t.Fatalf("%d rows; want 250", len(rows))
			}
			for i, r := range rows {
				want := map[string]any{"id": int64(i), "day": days[i%3], "country": nilIfEmpty(countries[i%4]),
					"payload": `{"n":` + itoa(i) + `}`, "ts": int64(1_700_000_000_000_000 + i)}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Fatalf("row %d (-want +got):\n%s", i, diff)
				}
			}
			if m := s.Metrics(); m["numFiles"] != "1" || m["numRows"] != "250" {
				t.Errorf("metrics %v", m)
			}
		})
	}
}

// sameFields compares names, types and nullability (readers add field metadata).
func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) || fa.Nullable != fb.Nullable {
			return false
		}
	}
	return true
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestJSONRoundTrip: newline-delimited JSON, keys in column order, values as
// arrowbatch.JSONValue renders them; plain and gzipped.
func TestJSONRoundTrip(t *testing.T) {
	for _, codec := range []string{filesink.None, filesink.Gzip} {
		t.Run(codec, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			dir := t.TempDir()
			o := filesink.DefaultOptions(filesink.JSON)
			o.Path, o.Compression = dir, codec
			s := open(t, mem, o)
			writeBatch(t, mem, s, 0, [2]int64{0, 10})
			tbl, err := filesink.ReadManifest(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			files := tbl.Files()
			wantExt := map[string]string{filesink.None: ".json", filesink.Gzip: ".json.gz"}[codec]
			if len(files) != 1 || !strings.HasSuffix(files[0].Path, wantExt) {
				t.Fatalf("files %+v; want one *%s", files, wantExt)
			}
			data, err := tbl.ReadFile(t.Context(), files[0])
			if err != nil {
				t.Fatal(err)
			}
			rows := readJSON(t, data, codec == filesink.Gzip)
			if len(rows) != 10 {
				t.Fatalf("%d rows; want 10", len(rows))
			}
			for i, r := range rows {
				want := map[string]any{
					"id":      json.Number(itoa(i)),
					"day":     days[i%3],
					"country": nilIfEmpty(countries[i%4]),
					"payload": base64.StdEncoding.EncodeToString([]byte(`{"n":` + itoa(i) + `}`)),
					"ts":      time.UnixMicro(1_700_000_000_000_000 + int64(i)).UTC().Format(time.RFC3339Nano),
				}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("row %d (-want +got):\n%s", i, diff)
				}
			}
			if codec == filesink.None {
				first := strings.SplitN(string(data), "\n", 2)[0]
				if !strings.HasPrefix(first, `{"id":0,"day":"2024-05-01","country":"DE","payload":`) {
					t.Errorf("first line %s: keys not in column order", first)
				}
			}
		})
	}
}

// TestJSONSpecialValues: NaN and infinities as Spark writes them, nested values as JSON.
func TestJSONSpecialValues(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String}), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	fb := b.Field(0).(*array.Float64Builder)
	fb.AppendValues([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.5}, nil)
	lb := b.Field(1).(*array.ListBuilder)
	for i := range 4 {
		if i == 3 {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{int64(i), 7}, nil)
	}
	sb := b.Field(2).(*array.StructBuilder)
	for i := range 4 {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append("x" + itoa(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	dir := t.TempDir()
	o := filesink.DefaultOptions(filesink.JSON)
	o.Path = dir
	s, err := filesink.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Begin(t.Context(), 0)
	if err := w.Write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	tbl, _ := filesink.ReadManifest(t.Context(), dir)
	data, _ := tbl.ReadFile(t.Context(), tbl.Files()[0])
	want := `{"f":"NaN","l":[0,7],"s":{"a":"x0"}}
{"f":"Infinity","l":[1,7],"s":{"a":"x1"}}
{"f":"-Infinity","l":[2,7],"s":{"a":"x2"}}
{"f":1.5,"l":null,"s":{"a":"x3"}}
`
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

// TestPartitionBy: Hive-style directories in partitionBy order, escaped values, nulls as
// __HIVE_DEFAULT_PARTITION__, partition columns left out of the files, and the manifest's
// partition values matching the directories.
func TestPartitionBy(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	dir := t.TempDir()
	o := filesink.DefaultOptions(filesink.Parquet)
	o.Path, o.PartitionBy = dir, []string{"day", "country"}
	s := open(t, mem, o)
	writeBatch(t, mem, s, 0, [2]int64{0, 500})

	tbl, err := filesink.ReadManifest(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	var ids []int64
	for _, f := range tbl.Files() {
		dirs = append(dirs, path.Dir(f.Path))
		cols, vals, err := filesink.ParsePartitionDir(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"day", "country"}, cols); diff != "" {
			t.Errorf("%s: columns (-want +got):\n%s", f.Path, diff)
		}
		if diff := cmp.Diff(f.Partition, vals); diff != "" {
			t.Errorf("%s: manifest partition values differ from the directory (-manifest +dir):\n%s", f.Path, diff)
		}
		data, err := tbl.ReadFile(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		schema, rows := readParquet(t, mem, data)
		if schema.HasField("day") || schema.HasField("country") || !schema.HasField("id") {
			t.Errorf("%s: schema %s; want the partition columns left out", f.Path, schema)
		}
		for _, r := range rows {
			id := r["id"].(int64)
			ids = append(ids, id)
			if d := days[id%3]; *vals[0] != d {
				t.Errorf("row %d in day=%s; want %s", id, *vals[0], d)
			}
			c := countries[id%4]
			if (c == "") != (vals[1] == nil) || (vals[1] != nil && *vals[1] != c) {
				t.Errorf("row %d in %s; want country %q", id, f.Path, c)
			}
		}
	}
	slices.Sort(dirs)
	var want []string
	for _, d := range days {
		for _, c := range []string{"DE", "FR", "__HIVE_DEFAULT_PARTITION__", "a%2Fb%3Dc"} {
			want = append(want, "day="+d+"/country="+c)
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, dirs); diff != "" {
		t.Errorf("directories (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seq(0, 500), sorted(ids)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// TestRolling: maxRecordsPerFile caps files exactly; maxBytesPerFile rolls files at about
// the size (Parquet and JSON).
func TestRolling(t *testing.T) {
	t.Run("maxRecordsPerFile", func(t *testing.T) {
		mem := testkit.CheckedAlloc(t)
		dir := t.TempDir()
		o := filesink.DefaultOptions(filesink.Parquet)
		o.Path, o.MaxRecordsPerFile = dir, 100
		s := open(t, mem, o)
		writeBatch(t, mem, s, 0, [2]int64{0, 130}, [2]int64{130, 120})
		tbl, _ := filesink.ReadManifest(t.Context(), dir)
		var rows []int64
		for _, f := range tbl.Files() {
			rows = append(rows, f.Rows)
		}
		if diff := cmp.Diff([]int64{100, 100, 50}, rows); diff != "" {
			t.Errorf("rows per file (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(seq(0, 250), committedIDs(t, mem, dir)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	for _, f := range []filesink.Format{filesink.Parquet, filesink.JSON} {
		t.Run("maxBytesPerFile/"+string(f), func(t *testing.T) {
			t.Parallel()
			mem := testkit.CheckedAlloc(t)
			dir := t.TempDir()
			o := filesink.DefaultOptions(f)
			const limit = 128 << 10
			o.Path, o.MaxBytesPerFile = dir, limit
			s := open(t, mem, o)
			// Two batches: the second one knows the encoded row size from the first.
			writeBatch(t, mem, s, 0, [2]int64{0, 10000})
			writeBatch(t, mem, s, 1, [2]int64{10000, 20000})
			tbl, _ := filesink.ReadManifest(t.Context(), dir)
			for _, b := range tbl.Batches {
				var sizes []int64
				for _, file := range b.Files {
					sizes = append(sizes, file.Size)
				}
				t.Logf("batch %d: file sizes %v", b.BatchID, sizes)
				if len(b.Files) < 2 {
					t.Errorf("batch %d: %d files; want several", b.BatchID, len(b.Files))
				}
				for i, file := range b.Files {
					last := i == len(b.Files)-1
					// Within the limit plus one chunk of rows; and not much smaller, but for
					// the last file, and the first batch's files (no size measured yet).
					if file.Size > limit*5/4 || (b.BatchID > 0 && !last && file.Size < limit/2) {
						t.Errorf("batch %d file %d: %d bytes, %d rows; limit %d", b.BatchID, i, file.Size, file.Rows, limit)
					}
				}
			}
			if diff := cmp.Diff(seq(0, 30000), committedIDs(t, mem, dir)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplay: after a commit, LastBatchID reports the batch; a batch at or below it is skipped
// (its writer writes nothing); a new sink on the same path learns the last batch from the
// manifests.
func TestReplay(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	dir := t.TempDir()
	o := filesink.DefaultOptions(filesink.Parquet)
	o.Path = dir
	s := open(t, mem, o)
	if _, ok, err := s.LastBatchID(t.Context()); ok || err != nil {
		t.Fatalf("LastBatchID before any batch: %v %v", ok, err)
	}
	writeBatch(t, mem, s, 0, [2]int64{0, 10})
	writeBatch(t, mem, s, 1, [2]int64{10, 10})
	writeBatch(t, mem, s, 1, [2]int64{10, 10}) // replayed: skipped
	writeBatch(t, mem, s, 0, [2]int64{0, 10})  // replayed: skipped
	if id, ok, err := s.LastBatchID(t.Context()); id != 1 || !ok || err != nil {
		t.Fatalf("LastBatchID = %d %v %v; want 1", id, ok, err)
	}
	s2 := open(t, mem, o)
	if id, ok, err := s2.LastBatchID(t.Context()); id != 1 || !ok || err != nil {
		t.Fatalf("new sink: LastBatchID = %d %v %v; want 1", id, ok, err)
	}
	writeBatch(t, mem, s2, 1, [2]int64{10, 10})
	writeBatch(t, mem, s2, 2, [2]int64{20, 5})
	if diff := cmp.Diff(seq(0, 25), committedIDs(t, mem, dir)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	// Two writers committing one batch: the second gets an error, not an overwrite.
	s3 := open(t, mem, o)
	w2, _ := s2.Begin(t.Context(), 3)
	w3, _ := s3.Begin(t.Context(), 3)
	for _, w := range []sinks.BatchWriter{w2, w3} {
		rec := events(mem, 25, 5)
		_ = w.Write(t.Context(), rec)
		rec.Release()
	}
	if err := w2.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w3.Commit(t.Context()); err == nil || !strings.Contains(err.Error(), "another writer committed batch 3") {
		t.Errorf("second commit of batch 3: %v; want an error", err)
	}
	if diff := cmp.Diff(seq(0, 30), committedIDs(t, mem, dir)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// listFiles returns every file below dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// dataFiles returns the names of files below dir outside the metadata directory.
func dataFiles(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, filesink.MetadataDir+"/") {
			out = append(out, n)
		}
	}
	return out
}

// TestAbort: Abort deletes the attempt's files (finished and open); nothing is committed.
func TestAbort(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	dir := t.TempDir()
	o := filesink.DefaultOptions(filesink.Parquet)
	o.Path, o.MaxRecordsPerFile, o.PartitionBy = dir, 10, []string{"day"}
	s := open(t, mem, o)
	w, err := s.Begin(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := events(mem, 0, 45)
	if err := w.Write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if got := dataFiles(listFiles(t, dir)); len(got) < 4 {
		t.Fatalf("files before Abort: %v; want finished and open ones", got)
	}
	if err := w.Abort(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, dir); len(dataFiles(got)) != 0 {
		t.Errorf("files after Abort: %v", got)
	}
	if _, ok, _ := s.LastBatchID(t.Context()); ok {
		t.Error("a batch is committed after Abort")
	}
}

// TestCrashBeforeManifest simulates a crash after an attempt wrote its files but before its
// manifest: a new sink replays the batch, commits only the new attempt's files, and deletes the
// orphans. A crash after the manifest makes the replay a no-op.
func TestCrashBeforeManifest(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	dir := t.TempDir()
	o := filesink.DefaultOptions(filesink.Parquet)
	o.Path, o.MaxRecordsPerFile, o.PartitionBy = dir, 20, []string{"day"}
	s := open(t, mem, o)
	writeBatch(t, mem, s, 0, [2]int64{0, 30})

	// Batch 1, attempt 1: files written, some closed, some open; then the process "dies".
	crashed, _ := s.Begin(t.Context(), 1)
	rec := events(mem, 30, 100)
	if err := crashed.Write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	orphans := dataFiles(listFiles(t, dir))
	t.Cleanup(func() { crashed.Abort(context.Background()) }) // releases its buffers at the end

	// Restart: the coordinator replays batch 1 on a new sink.
	s2 := open(t, mem, o)
	if id, _, _ := s2.LastBatchID(t.Context()); id != 0 {
		t.Fatalf("LastBatchID after the crash = %d; want 0", id)
	}
	writeBatch(t, mem, s2, 1, [2]int64{30, 100})
	if diff := cmp.Diff(seq(0, 130), sorted(committedIDs(t, mem, dir))); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	tbl, _ := filesink.ReadManifest(t.Context(), dir)
	var committed []string
	for _, f := range tbl.Files() {
		committed = append(committed, f.Path)
	}
	slices.Sort(committed)
	if diff := cmp.Diff(committed, dataFiles(listFiles(t, dir))); diff != "" {
		t.Errorf("files on disk after the sweep differ from the committed ones (-committed +disk):\n%s\norphans were %v", diff, orphans)
	}
}

// TestOptions: the spec parses every option, names unknown and malformed ones, requires
// path, and never prints secrets.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		kv      map[string]string
		wantErr []string
	}{
		{"minimal", "parquet", map[string]string{"path": "/tmp/x"}, nil},
		{"all", "parquet", map[string]string{"path": "s3://bucket-1/a/b", "compression": "ZSTD", "partitionBy": "a, b",
			"maxRecordsPerFile": "1000", "maxBytesPerFile": "128mb", "rowGroupSize": "8mb", "region": "eu-west-1",
			"endpoint": "http://127.0.0.1:9000", "pathStyleAccess": "true", "awsAccessKey": "AKIA", "awsSecretKey": "SECRETVALUE",
			"roleArn": "arn:aws:iam::123456789012:role/r", "roleExternalId": "ext", "roleSessionName": "sess",
			"uploadPartSize": "16mb", "uploadConcurrency": "2"}, nil},
		{"missing path", "json", map[string]string{}, []string{`json sink: option "path": required option is missing`}},
		{"unknown", "parquet", map[string]string{"path": "/x", "partitonBy": "a"}, []string{`option "partitonBy": unknown option (did you mean "partitionBy"?)`}},
		{"bad values", "parquet", map[string]string{"path": "/x", "compression": "lz4", "maxRecordsPerFile": "-1", "maxBytesPerFile": "lots"},
			[]string{`option "compression": invalid value "lz4": must be one of snappy, zstd, none`,
				`option "maxBytesPerFile": invalid value "lots"`, `option "maxRecordsPerFile": invalid value "-1"`}},
		{"json codec", "json", map[string]string{"path": "/x", "compression": "snappy"}, []string{`must be one of none, gzip`}},
		{"json has no rowGroupSize", "json", map[string]string{"path": "/x", "rowGroupSize": "1mb"}, []string{`option "rowGroupSize": unknown option`}},
		{"bad path", "parquet", map[string]string{"path": "hdfs://nn/x"}, []string{`scheme "hdfs://" is not supported`}},
		{"file URL", "parquet", map[string]string{"path": "file:///tmp/x"}, nil},
		{"file URL of a host", "parquet", map[string]string{"path": "file://nn/tmp/x"}, []string{`a file URL must name a local path (file:///dir), not host "nn"`}},
		{"bad bucket", "parquet", map[string]string{"path": "s3://B/x"}, []string{`bucket "B" is not a valid S3 bucket name`}},
		{"partitionBy twice", "parquet", map[string]string{"path": "/x", "partitionBy": "a,a"}, []string{`column "a" is listed twice`}},
		{"S3 settings on a local path", "parquet", map[string]string{"path": "/x", "region": "us-east-1"}, []string{`is a local directory, but S3 settings are given (region)`}},
		{"secret alone", "parquet", map[string]string{"path": "s3://bucket/x", "awsSecretKey": "SECRETVALUE"}, []string{`option "awsAccessKey": required when awsSecretKey is given`}},
		{"small part", "parquet", map[string]string{"path": "s3://bucket/x", "uploadPartSize": "1mb"}, []string{`option "uploadPartSize": invalid value "1mb"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := sinks.Default.Lookup(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f(tc.kv)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// TestRedactOptions: Explain prints the sink's options through RedactOptions.
func TestRedactOptions(t *testing.T) {
	s, err := filesink.New(filesink.Options{Format: filesink.Parquet, Path: "s3://bucket/x", AWSAccessKey: "AKIA", AWSSecretKey: "SECRETVALUE"})
	if err != nil {
		t.Fatal(err)
	}
	got := s.RedactOptions(map[string]string{"path": "s3://bucket/x", "awsAccessKey": "AKIA", "awsSecretKey": "SECRETVALUE", "awsSessionToken": "T", "roleExternalId": "E", "fs.s3a.secret.key": "S"})
	for _, k := range []string{"awsAccessKey", "awsSecretKey", "awsSessionToken", "roleExternalId", "fs.s3a.secret.key"} {
		if got[k] != optspec.Redacted {
			t.Errorf("%s = %q; want it redacted", k, got[k])
		}
	}
	if got["path"] != "s3://bucket/x" {
		t.Errorf("path = %q", got["path"])
	}
	if d := s.Description(); strings.Contains(d, "SECRET") || d != "FileSink[parquet, s3://bucket/x/]" {
		t.Errorf("Description() = %q", d)
	}
}

// TestOpenErrors: schema problems and a path holding other output stop Open with a clear
// error; so does a corrupt manifest.
func TestOpenErrors(t *testing.T) {
	mem := memory.NewGoAllocator()
	openWith := func(o filesink.Options, schema *arrow.Schema) error {
		s, err := filesink.New(o)
		if err != nil {
			return err
		}
		return s.Open(t.Context(), sinks.Info{Schema: schema, Allocator: mem})
	}
	dir := t.TempDir()
	base := filesink.DefaultOptions(filesink.Parquet)
	base.Path = dir
	for _, tc := range []struct {
		name   string
		part   []string
		schema *arrow.Schema
		want   string
	}{
		{"missing partition column", []string{"dy"}, eventSchema, `partition column "dy" does not exist (columns: id, day, country, payload, ts)`},
		{"binary partition column", []string{"payload"}, eventSchema, `partition column "payload" has type binary`},
		{"all columns", []string{"id"}, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), "every column is a partition column"},
		{"not parquet", nil, arrow.NewSchema([]arrow.Field{{Name: "u", Type: arrow.SparseUnionOf(nil, nil)}}, nil), "cannot be written as Parquet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.PartitionBy = tc.part
			err := openWith(o, tc.schema)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want %q", err, tc.want)
			}
		})
	}
	t.Run("other layout", func(t *testing.T) {
		s := open(t, mem, base)
		writeBatch(t, mem, s, 0, [2]int64{0, 3})
		o := base
		o.PartitionBy = []string{"day"}
		err := openWith(o, eventSchema)
		if err == nil || !strings.Contains(err.Error(), "holds parquet output partitioned by [] (batch 0), but this query writes parquet partitioned by [day]") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("corrupt manifest", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, filesink.MetadataDir, "1"), []byte(`{"version":1,"batchId":2}`), 0o644); err != nil {
			t.Fatal(err)
		}
		err := openWith(base, eventSchema)
		var ce *filesink.CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "holds batch 2") {
			t.Errorf("Open: %v; want a CorruptError", err)
		}
	})
}

// TestOutputModes: the file sink appends only, as Spark's.
func TestOutputModes(t *testing.T) {
	s, _ := filesink.New(filesink.Options{Format: filesink.JSON, Path: "/tmp/x"})
	if !s.SupportsOutputMode(sinks.Append) || s.SupportsOutputMode(sinks.Update) || s.SupportsOutputMode(sinks.Complete) {
		t.Error("want append only")
	}
}

// TestRollingWideRows: with rows far larger than maxBytesPerFile / probe size, files still
// roll at about the limit: a new file's first chunk is sized by the batch's estimate of its
// rows, not a fixed probe of 256 rows (which made 25 MB files under a 1 MB limit).
func TestRollingWideRows(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "body", Type: arrow.BinaryTypes.String}}, nil)
	const limit, rowBytes, rows = 1 << 20, 100 << 10, 300
	for _, f := range []filesink.Format{filesink.JSON, filesink.Parquet} {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			o := filesink.DefaultOptions(f)
			o.Path, o.MaxBytesPerFile = dir, limit
			if f == filesink.Parquet {
				o.Compression = "none"
			}
			s, err := filesink.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Open(t.Context(), sinks.Info{QueryID: "q", Schema: schema, OutputMode: sinks.Append, Allocator: mem, Logger: testkit.Logger(t)}); err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			b := array.NewStringBuilder(mem)
			rng := rand.New(rand.NewPCG(1, 2))
			for range rows {
				v := make([]byte, rowBytes)
				for i := range v {
					v[i] = 'a' + byte(rng.IntN(26)) // incompressible enough
				}
				b.Append(string(v))
			}
			col := b.NewArray()
			b.Release()
			rec := array.NewRecordBatch(schema, []arrow.Array{col}, rows)
			col.Release()
			defer rec.Release()
			w, err := s.Begin(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			tbl, _ := filesink.ReadManifest(t.Context(), dir)
			var total int64
			for _, file := range tbl.Files() {
				total += file.Rows
				if file.Size > limit+2*rowBytes+64<<10 {
					t.Errorf("file of %d bytes (%d rows); limit %d, rows of %d bytes", file.Size, file.Rows, limit, rowBytes)
				}
			}
			if total != rows {
				t.Errorf("%d rows in the files; want %d", total, rows)
			}
		})
	}
}
