package file_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/pipeline"
	filesink "github.com/sluicedev/sluice/sinks/file"
	"github.com/sluicedev/sluice/sources/rate"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var errCrash = errors.New("injected crash before the manifest")

// runQuery runs rate (on clock, 25 rows per batch) → snk with AvailableNow on checkpoint cp.
func runQuery(t *testing.T, mem memory.Allocator, clock *fakeClock, snk *filesink.Sink, cp string) error {
	t.Helper()
	src, err := rate.New(rate.Options{RowsPerSecond: 100, NumPartitions: 2, MaxRowsPerBatch: 25, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	q, err := p.ReadStream().Source(src).Load().
		WriteStream().Sink(snk).Option("checkpointLocation", cp).
		Trigger(pipeline.AvailableNow()).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return q.AwaitTermination(ctx)
}

// TestCrashBeforeManifestPipeline runs the sink under the coordinator, locally and on s3rver:
// batch 2 fails after its files are complete but before its manifest (as a crash there
// would), the query stops with a BatchError, and a restart on the same checkpoint replays
// batch 2. The committed files hold rows 0..99 exactly once, and the orphans of the failed
// attempt are gone after the restart's first commit.
func TestCrashBeforeManifestPipeline(t *testing.T) {
	for _, where := range []string{"local", "s3"} {
		t.Run(where, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			dir := t.TempDir()
			cp := filepath.Join(dir, "cp")
			o := filesink.DefaultOptions(filesink.Parquet)
			o.Path, o.MaxRecordsPerFile = filepath.Join(dir, "out"), 10
			var s3opt func(*filesink.Options)
			var bucket string
			if where == "s3" {
				bucket, s3opt = s3Bucket(t)
				o.Path = "s3://" + bucket + "/tables/events"
				s3opt(&o)
			} else {
				s3opt = func(*filesink.Options) {}
			}
			files := func() []string { // data files present in the storage
				if where == "s3" {
					var out []string
					for _, k := range s3Keys(t, bucket) {
						out = append(out, strings.TrimPrefix(k, "tables/events/"))
					}
					return dataFiles(out)
				}
				return dataFiles(listFiles(t, o.Path))
			}
			clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
			snk, err := filesink.New(o)
			if err != nil {
				t.Fatal(err)
			}
			// The rate source starts counting when the query first starts.
			if err := runQuery(t, mem, clock, snk, cp); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second) // 100 rows: batches 0..3

			filesink.SetBeforeManifest(snk, func(id int64) error {
				if id == 2 {
					return errCrash
				}
				return nil
			})
			err = runQuery(t, mem, clock, snk, cp)
			var be *pipeline.BatchError
			if !errors.As(err, &be) || be.BatchID != 2 || !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v; want a BatchError for batch 2", err)
			}
			before := files() // batches 0 and 1 committed, and batch 2's files

			snk2, err := filesink.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := runQuery(t, mem, clock, snk2, cp); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if diff := cmp.Diff(seq(0, 100), sorted(committedInts(t, mem, o.Path, "value", s3opt))); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			tbl, err := filesink.ReadManifest(t.Context(), o.Path, s3opt)
			if err != nil {
				t.Fatal(err)
			}
			var committed []string
			for _, f := range tbl.Files() {
				committed = append(committed, f.Path)
			}
			slices.Sort(committed)
			after := files()
			slices.Sort(after)
			if diff := cmp.Diff(committed, after); diff != "" {
				t.Errorf("files in the storage differ from the committed ones (-committed +storage):\n%s", diff)
			}
			var orphans int
			for _, f := range before {
				if !slices.Contains(committed, f) {
					orphans++
				}
			}
			if orphans == 0 {
				t.Errorf("the failed attempt left no files (%v): the test did not fail where intended", before)
			}
			if id, ok := tbl.LastBatchID(); !ok || id != 3 {
				t.Errorf("last batch %d %v; want 3", id, ok)
			}
		})
	}
}
