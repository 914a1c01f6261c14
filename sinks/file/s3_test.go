package file_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/google/go-cmp/cmp"

	filesink "github.com/sluicedev/sluice/sinks/file"
)

// TestS3 writes to s3rver: a partitioned Parquet batch, a JSON batch big enough for a
// multipart upload, and an aborted batch whose uploads leave nothing behind. Everything
// committed reads back through ReadManifest.
func TestS3(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	bucket, s3opt := s3Bucket(t)

	t.Run("parquet", func(t *testing.T) {
		t.Parallel()
		o := filesink.DefaultOptions(filesink.Parquet)
		o.Path, o.PartitionBy = "s3://"+bucket+"/pq", []string{"day"}
		s3opt(&o)
		s := open(t, mem, o)
		writeBatch(t, mem, s, 0, [2]int64{0, 300})
		writeBatch(t, mem, s, 1, [2]int64{300, 300})
		if diff := cmp.Diff(seq(0, 600), sorted(committedIDs(t, mem, o.Path, s3opt))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		tbl, err := filesink.ReadManifest(t.Context(), o.Path, s3opt)
		if err != nil {
			t.Fatal(err)
		}
		if keys := s3Keys(t, bucket); !slices.Contains(keys, "pq/_sluice_metadata/1") {
			t.Errorf("keys %v: no manifest pq/_sluice_metadata/1", keys)
		}
		if len(tbl.Batches) != 2 || len(tbl.Files()) != 6 {
			t.Errorf("%d batches, %d files; want 2 and 6", len(tbl.Batches), len(tbl.Files()))
		}
		for _, f := range tbl.Files() {
			if !strings.HasPrefix(f.Path, "day=2024-05-0") {
				t.Errorf("file %s not in a day= directory", f.Path)
			}
		}
	})

	t.Run("multipart json", func(t *testing.T) {
		t.Parallel()
		o := filesink.DefaultOptions(filesink.JSON)
		o.Path, o.UploadPartSize = "s3://"+bucket+"/big/", filesink.MinUploadPartSize
		s3opt(&o)
		s := open(t, mem, o)
		writeBatch(t, mem, s, 0, [2]int64{0, 30000}, [2]int64{30000, 30000}) // ~7 MB
		tbl, err := filesink.ReadManifest(t.Context(), o.Path, s3opt)
		if err != nil {
			t.Fatal(err)
		}
		if f := tbl.Files(); len(f) != 1 || f[0].Size <= filesink.MinUploadPartSize {
			t.Fatalf("files %+v; want one file over 5 MiB", f)
		}
		if diff := cmp.Diff(seq(0, 60000), committedIDs(t, mem, o.Path, s3opt)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})

	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		o := filesink.DefaultOptions(filesink.JSON)
		o.Path, o.UploadPartSize, o.MaxRecordsPerFile = "s3://"+bucket+"/aborted", filesink.MinUploadPartSize, 40000
		s3opt(&o)
		s := open(t, mem, o)
		w, err := s.Begin(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		rec := events(mem, 0, 60000) // one complete file of 40000 rows, one in flight
		err = w.Write(t.Context(), rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(t.Context()); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, k := range s3Keys(t, bucket) {
			if strings.HasPrefix(k, "aborted/") {
				left = append(left, k)
			}
		}
		if len(left) > 0 {
			t.Errorf("objects after Abort: %v", left)
		}
	})

}
