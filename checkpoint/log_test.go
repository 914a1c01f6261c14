package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
)

// memStore is an in-memory Store, so that messages name a stable location and fuzzing does
// not fsync.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	fail  error // returned by every call when set
}

func newMemStore(files map[string]string) *memStore {
	m := &memStore{files: map[string][]byte{}}
	for k, v := range files {
		m.files[k] = []byte(v)
	}
	return m
}

func (m *memStore) ReadFile(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	b, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return bytes.Clone(b), nil
}

func (m *memStore) WriteFile(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.files[name] = bytes.Clone(data)
	return nil
}

func (m *memStore) List(_ context.Context, dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []string
	for name := range m.files {
		if rest, ok := strings.CutPrefix(name, dir+"/"); ok && !strings.Contains(rest, "/") {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memStore) Remove(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	delete(m.files, name)
	return nil
}

func (m *memStore) Lock(context.Context) (io.Closer, error) { return io.NopCloser(nil), nil }
func (m *memStore) String() string                          { return "mem://ckpt" }

func (m *memStore) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.files {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var _ checkpoint.Store = (*memStore)(nil)

// stores runs f against the in-memory store and a directory.
func stores(t *testing.T, f func(t *testing.T, s checkpoint.Store)) {
	t.Run("mem", func(t *testing.T) { f(t, newMemStore(nil)) })
	t.Run("dir", func(t *testing.T) { f(t, newDir(t)) })
}

func TestLogRoundTrip(t *testing.T) {
	stores(t, func(t *testing.T, s checkpoint.Store) {
		ctx := context.Background()
		l := checkpoint.NewLog(s)
		if l.Store() != s {
			t.Error("Store() is not the store given to NewLog")
		}

		// Nothing yet: ok is false, without error.
		if _, ok, err := l.Metadata(ctx); ok || err != nil {
			t.Errorf("Metadata on an empty store = %v, %v", ok, err)
		}
		if _, ok, err := l.Offsets(ctx, 0); ok || err != nil {
			t.Errorf("Offsets(0) on an empty store = %v, %v", ok, err)
		}
		if ok, err := l.HasCommit(ctx, 0); ok || err != nil {
			t.Errorf("HasCommit(0) on an empty store = %v, %v", ok, err)
		}
		if _, ok, err := l.InitialOffset(ctx, 0); ok || err != nil {
			t.Errorf("InitialOffset(0) on an empty store = %v, %v", ok, err)
		}
		for _, dir := range []string{checkpoint.OffsetsDir, checkpoint.CommitsDir} {
			if _, ok, err := l.Latest(ctx, dir); ok || err != nil {
				t.Errorf("Latest(%s) on an empty store = %v, %v", dir, ok, err)
			}
		}

		// The version is always the current one, whatever the caller set.
		if err := l.WriteMetadata(ctx, checkpoint.Metadata{Version: 99, ID: "q-1"}); err != nil {
			t.Fatal(err)
		}
		m, ok, err := l.Metadata(ctx)
		if err != nil || !ok {
			t.Fatalf("Metadata = %v, %v", ok, err)
		}
		if diff := cmp.Diff(checkpoint.Metadata{Version: checkpoint.Version, ID: "q-1"}, m); diff != "" {
			t.Errorf("Metadata (-want +got):\n%s", diff)
		}

		off := checkpoint.Offsets{BatchID: 12, TimestampMs: 1700000000123, WatermarkMs: 1700000000000, Sources: []checkpoint.SourceOffsets{
			{Description: "RateStreamV2[rowsPerSecond=1]", Start: json.RawMessage(`{"startMs":1,"rows":0}`), End: json.RawMessage(`{"startMs":1,"rows":10}`)},
			{Description: "KinesisV2[s]", Start: json.RawMessage(`{ "shard-0" : "49590338271490256608559692538361571095921575989136588898" }`), End: json.RawMessage(`"latest"`)},
		}}
		if err := l.WriteOffsets(ctx, off); err != nil {
			t.Fatal(err)
		}
		got, ok, err := l.Offsets(ctx, 12)
		if err != nil || !ok {
			t.Fatalf("Offsets(12) = %v, %v", ok, err)
		}
		want := off
		want.Version = checkpoint.Version
		// Offsets are compacted: sources compare them byte for byte.
		want.Sources[1].Start = json.RawMessage(`{"shard-0":"49590338271490256608559692538361571095921575989136588898"}`)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Offsets (-want +got):\n%s", diff)
		}

		if err := l.WriteCommit(ctx, checkpoint.Commit{BatchID: 12, TimestampMs: 5}); err != nil {
			t.Fatal(err)
		}
		if ok, err := l.HasCommit(ctx, 12); !ok || err != nil {
			t.Errorf("HasCommit(12) = %v, %v", ok, err)
		}
		if ok, err := l.HasCommit(ctx, 11); ok || err != nil {
			t.Errorf("HasCommit(11) = %v, %v", ok, err)
		}

		init := checkpoint.InitialOffset{Description: "rate", Offset: json.RawMessage("[ 1,\n 2 ]")}
		if err := l.WriteInitialOffset(ctx, 3, init); err != nil {
			t.Fatal(err)
		}
		gotInit, ok, err := l.InitialOffset(ctx, 3)
		if err != nil || !ok {
			t.Fatalf("InitialOffset(3) = %v, %v", ok, err)
		}
		wantInit := checkpoint.InitialOffset{Version: checkpoint.Version, Description: "rate", Offset: json.RawMessage("[1,2]")}
		if diff := cmp.Diff(wantInit, gotInit); diff != "" {
			t.Errorf("InitialOffset (-want +got):\n%s", diff)
		}
		if _, ok, err := l.InitialOffset(ctx, 0); ok || err != nil {
			t.Errorf("InitialOffset(0) = %v, %v; want none", ok, err)
		}

		for dir, want := range map[string]int64{checkpoint.OffsetsDir: 12, checkpoint.CommitsDir: 12} {
			if id, ok, err := l.Latest(ctx, dir); id != want || !ok || err != nil {
				t.Errorf("Latest(%s) = %d, %v, %v; want %d", dir, id, ok, err, want)
			}
		}
	})
}

// TestLogCompactsOffsetsWrittenByHand reads offsets indented by a person or another tool.
func TestLogCompactsOffsetsWrittenByHand(t *testing.T) {
	s := newMemStore(map[string]string{"offsets/4": `{
  "version": 1,
  "batchId": 4,
  "timestampMs": 7,
  "sources": [
    {
      "description": "d",
      "start": { "a" : [ 1, 2 ],
                 "b" : "x y" },
      "end": null
    }
  ]
}
`})
	got, ok, err := checkpoint.NewLog(s).Offsets(context.Background(), 4)
	if err != nil || !ok {
		t.Fatalf("Offsets = %v, %v", ok, err)
	}
	want := checkpoint.Offsets{Version: 1, BatchID: 4, TimestampMs: 7, Sources: []checkpoint.SourceOffsets{
		{Description: "d", Start: json.RawMessage(`{"a":[1,2],"b":"x y"}`), End: json.RawMessage(`null`)},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Offsets (-want +got):\n%s", diff)
	}
}

// TestFormat keeps the bytes of every file kind in a golden file: a change of the checkpoint
// format must be deliberate (and come with a Version bump when old files no longer read).
func TestFormat(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(nil)
	l := checkpoint.NewLog(s)
	steps := []error{
		l.WriteMetadata(ctx, checkpoint.Metadata{ID: "0f8fad5b-d9cb-469f-a165-70867728950e"}),
		l.WriteInitialOffset(ctx, 0, checkpoint.InitialOffset{Description: "RateStreamV2[rowsPerSecond=1, rampUpTimeSeconds=0, numPartitions=1]", Offset: json.RawMessage(`{"startMs":1700000000000,"rows":0}`)}),
		l.WriteOffsets(ctx, checkpoint.Offsets{BatchID: 0, TimestampMs: 1700000001000, Sources: []checkpoint.SourceOffsets{
			{Description: "RateStreamV2[rowsPerSecond=1, rampUpTimeSeconds=0, numPartitions=1]", Start: json.RawMessage(`{"startMs":1700000000000,"rows":0}`), End: json.RawMessage(`{"startMs":1700000000000,"rows":1}`)},
		}}),
		l.WriteOffsets(ctx, checkpoint.Offsets{BatchID: 1, TimestampMs: 1700000002000, WatermarkMs: 1699999990000, Sources: []checkpoint.SourceOffsets{}}),
		l.WriteCommit(ctx, checkpoint.Commit{BatchID: 0, TimestampMs: 1700000001500}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	var b strings.Builder
	for _, name := range s.names() {
		data, _ := s.ReadFile(ctx, name)
		fmt.Fprintf(&b, "== %s\n%s", name, data)
	}
	golden.Check(t, "format.golden", b.String())
}

func TestLatestIsNumeric(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(nil)
	l := checkpoint.NewLog(s)
	for _, id := range []int64{2, 10, 9, 1, 100, 0} {
		if err := l.WriteOffsets(ctx, checkpoint.Offsets{BatchID: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{2, 10} {
		if err := l.WriteCommit(ctx, checkpoint.Commit{BatchID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if id, ok, err := l.Latest(ctx, checkpoint.OffsetsDir); id != 100 || !ok || err != nil {
		t.Errorf("Latest(offsets) = %d, %v, %v; want 100", id, ok, err)
	}
	if id, ok, err := l.Latest(ctx, checkpoint.CommitsDir); id != 10 || !ok || err != nil {
		t.Errorf("Latest(commits) = %d, %v, %v; want 10", id, ok, err)
	}
}

func TestPurge(t *testing.T) {
	stores(t, func(t *testing.T, s checkpoint.Store) {
		ctx := context.Background()
		l := checkpoint.NewLog(s)
		for id := range int64(12) {
			if err := l.WriteOffsets(ctx, checkpoint.Offsets{BatchID: id}); err != nil {
				t.Fatal(err)
			}
			if id < 11 {
				if err := l.WriteCommit(ctx, checkpoint.Commit{BatchID: id}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.WriteMetadata(ctx, checkpoint.Metadata{ID: "q"}); err != nil {
			t.Fatal(err)
		}
		if err := l.Purge(ctx, 9); err != nil {
			t.Fatal(err)
		}
		for dir, want := range map[string][]string{
			checkpoint.OffsetsDir: {"10", "11", "9"},
			checkpoint.CommitsDir: {"10", "9"},
		} {
			got, err := s.List(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s after Purge(9) (-want +got):\n%s", dir, diff)
			}
		}
		if _, ok, err := l.Metadata(ctx); !ok || err != nil {
			t.Errorf("Purge touched the metadata: %v, %v", ok, err)
		}
		// Purging again, or below what is left, changes nothing.
		for _, keep := range []int64{9, 0, -1} {
			if err := l.Purge(ctx, keep); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.List(ctx, checkpoint.OffsetsDir); len(got) != 3 {
			t.Errorf("offsets after repeated purges: %v", got)
		}
		// Purging past the end empties the log.
		if err := l.Purge(ctx, 1000); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := l.Latest(ctx, checkpoint.OffsetsDir); ok || err != nil {
			t.Errorf("Latest after purging all = %v, %v", ok, err)
		}
	})
}

func TestPurgeRefusesForeignFiles(t *testing.T) {
	s := newMemStore(map[string]string{"offsets/1": "", "commits/1": "", "commits/notes.txt": ""})
	err := checkpoint.NewLog(s).Purge(context.Background(), 5)
	var ce *checkpoint.CorruptError
	if !errors.As(err, &ce) || ce.File != "mem://ckpt/commits/notes.txt" {
		t.Fatalf("Purge = %v; want a *CorruptError naming commits/notes.txt", err)
	}
	if len(s.names()) != 3 {
		t.Errorf("Purge removed files before failing: %v", s.names())
	}
}

func TestStoreErrorsAreNotCorruption(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	s := newMemStore(nil)
	s.fail = boom
	l := checkpoint.NewLog(s)
	calls := map[string]error{}
	_, _, calls["Metadata"] = l.Metadata(ctx)
	_, _, calls["Offsets"] = l.Offsets(ctx, 1)
	_, calls["HasCommit"] = l.HasCommit(ctx, 1)
	_, _, calls["InitialOffset"] = l.InitialOffset(ctx, 1)
	_, _, calls["Latest"] = l.Latest(ctx, checkpoint.OffsetsDir)
	calls["Purge"] = l.Purge(ctx, 1)
	calls["WriteMetadata"] = l.WriteMetadata(ctx, checkpoint.Metadata{ID: "q"})
	calls["WriteOffsets"] = l.WriteOffsets(ctx, checkpoint.Offsets{BatchID: 1})
	calls["WriteCommit"] = l.WriteCommit(ctx, checkpoint.Commit{BatchID: 1})
	calls["WriteInitialOffset"] = l.WriteInitialOffset(ctx, 1, checkpoint.InitialOffset{})
	want := map[string]string{
		"Metadata":           "checkpoint: read mem://ckpt/metadata: boom",
		"Offsets":            "checkpoint: read mem://ckpt/offsets/1: boom",
		"HasCommit":          "checkpoint: read mem://ckpt/commits/1: boom",
		"InitialOffset":      "checkpoint: read mem://ckpt/sources/1/initial: boom",
		"Latest":             "checkpoint: list mem://ckpt/offsets: boom",
		"Purge":              "checkpoint: list mem://ckpt/commits: boom",
		"WriteMetadata":      "checkpoint: write mem://ckpt/metadata: boom",
		"WriteOffsets":       "checkpoint: write mem://ckpt/offsets/1: boom",
		"WriteCommit":        "checkpoint: write mem://ckpt/commits/1: boom",
		"WriteInitialOffset": "checkpoint: write mem://ckpt/sources/1/initial: boom",
	}
	for name, err := range calls {
		var ce *checkpoint.CorruptError
		if !errors.Is(err, boom) || errors.As(err, &ce) {
			t.Errorf("%s: %v; want the store's error wrapped, not a *CorruptError", name, err)
			continue
		}
		if err.Error() != want[name] {
			t.Errorf("%s:\n got %v\nwant %s", name, err, want[name])
		}
	}
}

// corruptCases are files the Log must refuse; their messages are kept in
// testdata/corrupt.golden (go test -run TestCorrupt -update rewrites it).
var corruptCases = []struct {
	name string
	file string // the file's name; its content is data
	data string
	read func(context.Context, *checkpoint.Log) error
}{
	{"metadata: invalid JSON", "metadata", `{"version":1,"id":`, readMetadata},
	{"metadata: not JSON at all", "metadata", "version=1\n", readMetadata},
	{"metadata: empty file", "metadata", "", readMetadata},
	{"metadata: wrong type", "metadata", `{"version":"1","id":"q"}`, readMetadata},
	{"metadata: unknown field", "metadata", `{"version":1,"id":"q","owner":"x"}`, readMetadata},
	{"metadata: empty query id", "metadata", `{"version":1,"id":""}`, readMetadata},
	{"metadata: trailing value", "metadata", `{"version":1,"id":"q"} {"version":1,"id":"r"}`, readMetadata},
	{"metadata: trailing brace", "metadata", `{"version":1,"id":"q"}}`, readMetadata},
	{"metadata: trailing bracket", "metadata", "{\"version\":1,\"id\":\"q\"}\n]\n", readMetadata},
	{"metadata: trailing junk", "metadata", `{"version":1,"id":"q"}xyz`, readMetadata},
	{"metadata: newer version", "metadata", `{"version":2,"id":"q"}`, readMetadata},
	{"metadata: newer version with new fields", "metadata", `{"version":3,"id":"q","owner":"x"}`, readMetadata},
	{"metadata: version 0", "metadata", `{"version":0,"id":"q"}`, readMetadata},
	{"metadata: no version", "metadata", `{"id":"q"}`, readMetadata},
	{"metadata: negative version", "metadata", `{"version":-1,"id":"q"}`, readMetadata},
	{"metadata: null", "metadata", `null`, readMetadata},
	{"metadata: array", "metadata", `[1]`, readMetadata},
	{"offsets: invalid JSON", "offsets/0", `{"version":1,"batchId":0,"sources":[{"start":nope}]}`, readOffsets0},
	{"offsets: wrong batch id", "offsets/0", `{"version":1,"batchId":7,"timestampMs":1,"sources":[]}`, readOffsets0},
	{"offsets: newer version", "offsets/0", `{"version":2,"batchId":0,"timestampMs":1,"sources":[],"epoch":3}`, readOffsets0},
	{"offsets: unknown source field", "offsets/0", `{"version":1,"batchId":0,"timestampMs":1,"sources":[{"description":"d","start":1,"end":2,"partitions":3}]}`, readOffsets0},
	{"offsets: trailing data", "offsets/0", `{"version":1,"batchId":0,"timestampMs":1,"sources":[]}]`, readOffsets0},
	{"offsets: missing end offset", "offsets/0", `{"version":1,"batchId":0,"timestampMs":1,"sources":[{"description":"a","start":1,"end":2},{"description":"b","start":1}]}`, readOffsets0},
	{"offsets: missing start offset", "offsets/0", `{"version":1,"batchId":0,"timestampMs":1,"sources":[{"description":"a","end":2}]}`, readOffsets0},
	{"commits: wrong batch id", "commits/0", `{"version":1,"batchId":1,"timestampMs":1}`, readCommit0},
	{"commits: unknown version", "commits/0", `{"version":0,"batchId":0,"timestampMs":1}`, readCommit0},
	{"initial offset: unknown version", "sources/0/initial", `{"description":"d","offset":1}`, readInitial0},
	{"initial offset: missing offset", "sources/0/initial", `{"version":1,"description":"d"}`, readInitial0},
	{"initial offset: invalid JSON", "sources/0/initial", `{"version":1,"description":"d","offset":}`, readInitial0},
	{"bad file name: word", "offsets/notes", "", latestOffsets},
	{"bad file name: negative", "offsets/-1", "", latestOffsets},
	{"bad file name: leading zero", "offsets/07", "", latestOffsets},
	{"bad file name: plus sign", "offsets/+7", "", latestOffsets},
	{"bad file name: too large", "commits/9223372036854775808", "", latestCommits},
}

func readMetadata(ctx context.Context, l *checkpoint.Log) error {
	_, ok, err := l.Metadata(ctx)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func readOffsets0(ctx context.Context, l *checkpoint.Log) error {
	_, ok, err := l.Offsets(ctx, 0)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func readCommit0(ctx context.Context, l *checkpoint.Log) error {
	ok, err := l.HasCommit(ctx, 0)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func readInitial0(ctx context.Context, l *checkpoint.Log) error {
	_, ok, err := l.InitialOffset(ctx, 0)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func latestOffsets(ctx context.Context, l *checkpoint.Log) error {
	_, ok, err := l.Latest(ctx, checkpoint.OffsetsDir)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func latestCommits(ctx context.Context, l *checkpoint.Log) error {
	_, ok, err := l.Latest(ctx, checkpoint.CommitsDir)
	if ok {
		return errors.New("ok is true")
	}
	return err
}

func TestCorrupt(t *testing.T) {
	var b strings.Builder
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			// The other files are valid, so the error can only come from c.file.
			s := newMemStore(map[string]string{
				"offsets/3": `{"version":1,"batchId":3,"timestampMs":1,"sources":[]}`,
				"commits/3": `{"version":1,"batchId":3,"timestampMs":1}`,
			})
			s.files[c.file] = []byte(c.data)
			err := c.read(context.Background(), checkpoint.NewLog(s))
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v; want a *CorruptError", err)
			}
			if want := "mem://ckpt/" + c.file; ce.File != want {
				t.Errorf("File = %q; want %q", ce.File, want)
			}
			if ce.Err == nil || errors.Unwrap(err) != ce.Err {
				t.Errorf("Unwrap() = %v; want Err (%v)", errors.Unwrap(err), ce.Err)
			}
			fmt.Fprintf(&b, "== %s\n%v\n", c.name, err)
		})
	}
	golden.Check(t, "corrupt.golden", b.String())
}
