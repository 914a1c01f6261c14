package state_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/state"
)

// Every test runs against both backends: they must behave the same.
var backends = []string{state.BackendMemory, state.BackendPebble}

const stateDir = "state/0"

func newLoc(t *testing.T) *checkpoint.Dir {
	t.Helper()
	loc, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func open(t *testing.T, loc checkpoint.Store, version int64, opts state.Options) state.Store {
	t.Helper()
	st, err := state.Open(context.Background(), loc, stateDir, version, opts)
	if err != nil {
		t.Fatalf("Open at version %d: %v", version, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// contents returns the store's entries as Range sees them, checking each against Get.
func contents(t *testing.T, st state.Store) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := st.Range(func(k, v []byte) bool {
		if _, dup := got[string(k)]; dup {
			t.Errorf("Range: key %q twice", k)
		}
		got[string(k)] = string(v)
		return true
	})
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	for k, v := range got {
		if gv, ok := st.Get([]byte(k)); !ok || string(gv) != v {
			t.Errorf("Get(%q) = %q, %v; Range saw %q", k, gv, ok, v)
		}
	}
	if n := st.Metrics().NumKeys; n != int64(len(got)) {
		t.Errorf("Metrics().NumKeys = %d; Range saw %d keys", n, len(got))
	}
	return got
}

func checkContents(t *testing.T, st state.Store, want map[string]string) {
	t.Helper()
	if diff := cmp.Diff(want, contents(t, st)); diff != "" {
		t.Errorf("state at version %d (-want +got):\n%s", st.Version(), diff)
	}
}

func commit(t *testing.T, st state.Store) {
	t.Helper()
	if err := st.Commit(context.Background()); err != nil {
		t.Fatalf("Commit of version %d: %v", st.Version()+1, err)
	}
}

// history makes random changes over versions 1..n and returns the state at every version.
type history struct {
	rng  *rand.Rand
	refs []map[string]string // refs[v] is version v
}

func newHistory(seed uint64) *history {
	return &history{rng: rand.New(rand.NewPCG(seed, 1)), refs: []map[string]string{{}}}
}

// batch makes one batch of random changes to st, commits it and records the new version.
func (h *history) batch(t *testing.T, st state.Store) {
	t.Helper()
	ref := maps(h.refs[len(h.refs)-1])
	for range h.rng.IntN(12) {
		k := fmt.Sprintf("k%02d", h.rng.IntN(40))
		if h.rng.IntN(2) == 0 { // read-modify-write
			if v, ok := st.Get([]byte(k)); string(v) != ref[k] || ok != hasKey(ref, k) {
				t.Fatalf("Get(%q) = %q, %v; want %q", k, v, ok, ref[k])
			}
		}
		if h.rng.IntN(3) == 0 {
			st.Delete([]byte(k))
			delete(ref, k)
			continue
		}
		v := strings.Repeat(string(rune('a'+h.rng.IntN(26))), h.rng.IntN(6))
		st.Put([]byte(k), []byte(v))
		ref[k] = v
	}
	commit(t, st)
	h.refs = append(h.refs, ref)
	if st.Version() != int64(len(h.refs)-1) {
		t.Fatalf("Version() = %d after commit; want %d", st.Version(), len(h.refs)-1)
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// files returns the names in the state directory.
func files(t *testing.T, loc checkpoint.Store) []string {
	t.Helper()
	names, err := loc.List(context.Background(), stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts state.Options
		want []string // substrings of the error; none means valid
	}{
		{"zero value", state.Options{}, nil},
		{"memory", state.Options{Backend: "memory", SnapshotInterval: 1, MinVersionsToRetain: 1}, nil},
		{"pebble", state.Options{Backend: "pebble", LocalDir: "/tmp/x"}, nil},
		{"unknown backend", state.Options{Backend: "rocksdb"}, []string{`unknown backend "rocksdb"`, "memory, pebble"}},
		{"all problems at once", state.Options{Backend: "Memory", SnapshotInterval: -1, MinVersionsToRetain: -5},
			[]string{`unknown backend "Memory"`, "SnapshotInterval -1 is negative", "MinVersionsToRetain -5 is negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if (err != nil) != (tc.want != nil) {
				t.Fatalf("Validate() = %v; want error %v", err, tc.want != nil)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	loc := newLoc(t)
	for _, tc := range []struct {
		name    string
		dir     string
		version int64
		opts    state.Options
		want    string
	}{
		{"unknown backend", stateDir, 0, state.Options{Backend: "nope"}, `unknown backend "nope"`},
		{"negative version", stateDir, -1, state.Options{}, "version -1 is negative"},
		{"empty directory name", "", 0, state.Options{}, "not a directory inside the checkpoint"},
		{"outside the checkpoint", "../x", 0, state.Options{}, "not a directory inside the checkpoint"},
		{"no files for version 1", stateDir, 1, state.Options{}, "1.delta is unusable: file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := state.Open(context.Background(), loc, tc.dir, tc.version, tc.opts)
			if err == nil {
				st.Close()
				t.Fatalf("Open succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// op is one call on a store.
type op struct {
	del        bool
	key, value string
}

func put(k, v string) op { return op{key: k, value: v} }
func del(k string) op    { return op{del: true, key: k} }

func apply(st state.Store, ops []op) { applyReading(st, ops, false) }

// applyReading applies ops, reading each key first when read is set, as an aggregation does.
func applyReading(st state.Store, ops []op, read bool) {
	for _, o := range ops {
		if read {
			st.Get([]byte(o.key))
		}
		if o.del {
			st.Delete([]byte(o.key))
		} else {
			st.Put([]byte(o.key), []byte(o.value))
		}
	}
}

// TestChanges checks Get, Range and the metrics with uncommitted changes over a committed
// state, then that Rollback discards them and Commit makes exactly them durable.
func TestChanges(t *testing.T) {
	committed := map[string]string{"a": "1", "b": "2", "": "empty key"}
	for _, tc := range []struct {
		name                string
		ops                 []op
		want                map[string]string
		updated, removed    int64
		deltaKeysAfterwards int // keys the delta file holds
	}{
		{"nothing", nil, committed, 0, 0, 0},
		{"put a new key", []op{put("c", "3")}, map[string]string{"a": "1", "b": "2", "": "empty key", "c": "3"}, 1, 0, 1},
		{"overwrite a committed key", []op{put("a", "one")}, map[string]string{"a": "one", "b": "2", "": "empty key"}, 1, 0, 1},
		{"empty value", []op{put("a", "")}, map[string]string{"a": "", "b": "2", "": "empty key"}, 1, 0, 1},
		{"delete a committed key", []op{del("b")}, map[string]string{"a": "1", "": "empty key"}, 0, 1, 1},
		{"delete the empty key", []op{del("")}, map[string]string{"a": "1", "b": "2"}, 0, 1, 1},
		{"delete a missing key", []op{del("zz")}, committed, 0, 0, 0},
		{"put then delete a new key", []op{put("c", "3"), del("c")}, committed, 0, 0, 0},
		{"delete then put a committed key", []op{del("a"), put("a", "again")}, map[string]string{"a": "again", "b": "2", "": "empty key"}, 1, 0, 1},
		{"put twice", []op{put("c", "x"), put("c", "y")}, map[string]string{"a": "1", "b": "2", "": "empty key", "c": "y"}, 1, 0, 1},
		{"delete twice", []op{del("a"), del("a")}, map[string]string{"b": "2", "": "empty key"}, 0, 1, 1},
		{"overwrite then delete", []op{put("a", "x"), del("a")}, map[string]string{"b": "2", "": "empty key"}, 0, 1, 1},
		{"delete everything then add", []op{del("a"), del("b"), del(""), put("d", "4")}, map[string]string{"d": "4"}, 1, 3, 4},
		{"binary keys and values", []op{put("\x00\xff", "\x00"), put("\xff", "\xff\x00")},
			map[string]string{"a": "1", "b": "2", "": "empty key", "\x00\xff": "\x00", "\xff": "\xff\x00"}, 2, 0, 2},
	} {
		for _, backend := range backends {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				loc := newLoc(t)
				opts := state.Options{Backend: backend}
				st := open(t, loc, 0, opts)
				for k, v := range committed {
					st.Put([]byte(k), []byte(v))
				}
				commit(t, st)

				apply(st, tc.ops)
				checkContents(t, st, tc.want)
				m := st.Metrics()
				if m.NumUpdated != tc.updated || m.NumRemoved != tc.removed {
					t.Errorf("NumUpdated, NumRemoved = %d, %d; want %d, %d", m.NumUpdated, m.NumRemoved, tc.updated, tc.removed)
				}

				st.Rollback()
				checkContents(t, st, committed)
				if m := st.Metrics(); m.NumUpdated != 0 || m.NumRemoved != 0 || st.Version() != 1 {
					t.Errorf("after Rollback: NumUpdated %d, NumRemoved %d, Version %d; want 0, 0, 1", m.NumUpdated, m.NumRemoved, st.Version())
				}

				applyReading(st, tc.ops, true)
				checkContents(t, st, tc.want)
				if m := st.Metrics(); m.NumUpdated != tc.updated || m.NumRemoved != tc.removed {
					t.Errorf("reading first: NumUpdated, NumRemoved = %d, %d; want %d, %d", m.NumUpdated, m.NumRemoved, tc.updated, tc.removed)
				}
				st.Rollback()

				apply(st, tc.ops)
				commit(t, st)
				checkContents(t, st, tc.want)
				if m := st.Metrics(); m.NumUpdated != 0 || m.NumRemoved != 0 {
					t.Errorf("after Commit: NumUpdated, NumRemoved = %d, %d; want 0", m.NumUpdated, m.NumRemoved)
				}
				delta, err := loc.ReadFile(context.Background(), stateDir+"/2.delta")
				if err != nil {
					t.Fatal(err)
				}
				if n := int(delta[7]); n != tc.deltaKeysAfterwards { // a one-byte uvarint after magic, format, kind, version 2
					t.Errorf("2.delta holds %d entries; want %d", n, tc.deltaKeysAfterwards)
				}
				checkContents(t, open(t, loc, 2, opts), tc.want)
			})
		}
	}
}

// TestGetThenCommit checks that what a Get learned about the committed state does not
// outlive the Commit that changes it.
func TestGetThenCommit(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := open(t, newLoc(t), 0, state.Options{Backend: backend})
			st.Get([]byte("k")) // missing
			st.Put([]byte("k"), []byte("1"))
			commit(t, st)
			st.Put([]byte("k"), []byte("2")) // an update, not a new key
			checkContents(t, st, map[string]string{"k": "2"})
			commit(t, st)
			st.Get([]byte("k")) // present
			st.Delete([]byte("k"))
			commit(t, st)
			st.Delete([]byte("k")) // already gone
			checkContents(t, st, map[string]string{})
			if m := st.Metrics(); m.NumRemoved != 0 {
				t.Errorf("NumRemoved = %d after deleting a missing key", m.NumRemoved)
			}
		})
	}
}

func TestPutCopies(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := open(t, newLoc(t), 0, state.Options{Backend: backend})
			k, v := []byte("key"), []byte("value")
			st.Put(k, v)
			k[0], v[0] = 'X', 'X'
			checkContents(t, st, map[string]string{"key": "value"})
			commit(t, st)
			checkContents(t, st, map[string]string{"key": "value"})
		})
	}
}

func TestRangeStops(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := open(t, newLoc(t), 0, state.Options{Backend: backend})
			for i := range 5 {
				st.Put(fmt.Appendf(nil, "c%d", i), nil)
			}
			commit(t, st)
			for i := range 5 {
				st.Put(fmt.Appendf(nil, "u%d", i), nil)
			}
			for _, stopAt := range []int{1, 3, 5, 6, 8} {
				calls := 0
				if err := st.Range(func(k, v []byte) bool { calls++; return calls < stopAt }); err != nil {
					t.Fatal(err)
				}
				if calls != stopAt {
					t.Errorf("Range stopping at call %d made %d calls", stopAt, calls)
				}
			}
		})
	}
}

// TestCommitReopen commits random batches and reopens the store at every version.
func TestCommitReopen(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			loc := newLoc(t)
			opts := state.Options{Backend: backend, SnapshotInterval: 4, MinVersionsToRetain: 1000}
			st := open(t, loc, 0, opts)
			h := newHistory(1)
			for range 23 {
				h.batch(t, st)
				checkContents(t, st, h.refs[st.Version()])
			}
			for v := range int64(len(h.refs)) {
				got := open(t, loc, v, opts)
				if got.Version() != v {
					t.Errorf("Open at %d: Version() = %d", v, got.Version())
				}
				checkContents(t, got, h.refs[v])
				got.Close()
			}
		})
	}
}

// TestReplay reopens at an older version, as the coordinator does when a batch did not
// commit: the newer files are ignored, then overwritten, also when SnapshotInterval changed
// and an old snapshot is not overwritten but must not be used.
func TestReplay(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			loc := newLoc(t)
			first := open(t, loc, 0, state.Options{Backend: backend, SnapshotInterval: 5})
			a := newHistory(2)
			for range 12 {
				a.batch(t, first)
			}
			first.Close()

			opts := state.Options{Backend: backend, SnapshotInterval: 3}
			st := open(t, loc, 7, opts)
			checkContents(t, st, a.refs[7])
			b := newHistory(3)
			b.refs = slices.Clone(a.refs[:8])
			for range 7 { // versions 8..14; 10.snapshot of the first run must go
				b.batch(t, st)
				checkContents(t, st, b.refs[st.Version()])
			}
			if slices.Contains(files(t, loc), "10.snapshot") {
				t.Errorf("10.snapshot of the abandoned run is still there: %v", files(t, loc))
			}
			for v := range int64(len(b.refs)) {
				got := open(t, loc, v, opts)
				checkContents(t, got, b.refs[v])
				got.Close()
			}
		})
	}
}

// countingStore records the files read.
type countingStore struct {
	checkpoint.Store
	mu    sync.Mutex
	reads []string
}

func (c *countingStore) ReadFile(ctx context.Context, name string) ([]byte, error) {
	c.mu.Lock()
	c.reads = append(c.reads, filepath.Base(name))
	c.mu.Unlock()
	return c.Store.ReadFile(ctx, name)
}

// TestLoadReads checks that loading a version reads its newest snapshot and the deltas after
// it, never more than SnapshotInterval files.
func TestLoadReads(t *testing.T) {
	const interval = 10
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			loc := newLoc(t)
			opts := state.Options{Backend: backend, SnapshotInterval: interval}
			st := open(t, loc, 0, opts)
			h := newHistory(4)
			for range 35 {
				h.batch(t, st)
			}
			for v := range int64(36) {
				var want []string
				if v >= interval {
					want = append(want, fmt.Sprintf("%d.snapshot", v/interval*interval))
				}
				for d := v/interval*interval + 1; d <= v; d++ {
					want = append(want, fmt.Sprintf("%d.delta", d))
				}
				cs := &countingStore{Store: loc}
				got := open(t, cs, v, opts)
				if diff := cmp.Diff(want, cs.reads); diff != "" {
					t.Errorf("files read to load version %d (-want +got):\n%s", v, diff)
				}
				if len(cs.reads) > interval {
					t.Errorf("loading version %d read %d files; want at most %d", v, len(cs.reads), interval)
				}
				checkContents(t, got, h.refs[v])
				got.Close()
			}
		})
	}
}

// TestPurge checks after every commit that the files are exactly those the retained versions
// need, and that each retained version loads.
func TestPurge(t *testing.T) {
	for _, tc := range []struct {
		interval, retain, commits int
	}{
		{3, 5, 25},
		{10, 20, 45},
		{1, 1, 6},
		{4, 1, 13},
		{5, 12, 30},
		{10, 100, 15},
	} {
		for _, backend := range backends {
			t.Run(fmt.Sprintf("%s/interval=%d,retain=%d", backend, tc.interval, tc.retain), func(t *testing.T) {
				loc := newLoc(t)
				opts := state.Options{Backend: backend, SnapshotInterval: tc.interval, MinVersionsToRetain: tc.retain}
				st := open(t, loc, 0, opts)
				h := newHistory(5)
				for range tc.commits {
					if st.Version()%7 == 6 { // purging goes on after a restart
						st.Close()
						st = open(t, loc, st.Version(), opts)
					}
					h.batch(t, st)
					v := st.Version()
					oldest := max(0, v-int64(tc.retain)+1)
					from := oldest / int64(tc.interval) * int64(tc.interval)
					var want []string
					for k := from; k <= v; k++ {
						if k > from {
							want = append(want, fmt.Sprintf("%d.delta", k))
						}
						if k > 0 && k%int64(tc.interval) == 0 {
							want = append(want, fmt.Sprintf("%d.snapshot", k))
						}
					}
					slices.Sort(want)
					if diff := cmp.Diff(want, files(t, loc)); diff != "" {
						t.Fatalf("files after committing version %d (-want +got):\n%s", v, diff)
					}
					// Files are the same for both backends: load with the cheaper one.
					for r := oldest; r <= v; r++ {
						got := open(t, loc, r, state.Options{SnapshotInterval: tc.interval, MinVersionsToRetain: tc.retain})
						checkContents(t, got, h.refs[r])
						got.Close()
					}
				}
			})
		}
	}
}

// TestCorruptFiles damages the files of a checkpoint and checks that Open names the file.
func TestCorruptFiles(t *testing.T) {
	// Interval 3 and 7 versions: 3.snapshot, 6.snapshot and 1..7.delta.
	build := func(t *testing.T, backend string) (*checkpoint.Dir, *history) {
		loc := newLoc(t)
		st := open(t, loc, 0, state.Options{Backend: backend, SnapshotInterval: 3})
		h := newHistory(6)
		for range 7 {
			h.batch(t, st)
		}
		st.Close()
		return loc, h
	}
	damage := func(name string, fn func([]byte) []byte) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, stateDir, name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fn(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(names ...string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			for _, n := range names {
				if err := os.Remove(filepath.Join(dir, stateDir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	copyFile := func(from, to string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, stateDir, from))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, stateDir, to), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		damage   func(*testing.T, string)
		version  int64
		file     string // the file the error names; "" when Open must succeed
		want     string
		notExist bool
	}{
		{"truncated delta", damage("7.delta", func(b []byte) []byte { return b[:len(b)-3] }), 7, "7.delta", "checksum mismatch", false},
		{"delta cut to a few bytes", damage("7.delta", func(b []byte) []byte { return b[:5] }), 7, "7.delta", "truncated", false},
		{"empty delta", damage("5.delta", func([]byte) []byte { return nil }), 5, "5.delta", "truncated", false},
		{"flipped bit in a snapshot", damage("6.snapshot", func(b []byte) []byte { b[len(b)/2] ^= 4; return b }), 7, "6.snapshot", "checksum mismatch", false},
		{"not a state file", damage("6.snapshot", func(b []byte) []byte { return []byte(`{"version":1}`) }), 6, "6.snapshot", "bad magic", false},
		{"missing delta", remove("5.delta"), 5, "5.delta", "file does not exist: needed to load version 5", true},
		{"missing snapshot and the deltas before it", remove("3.snapshot", "1.delta"), 5, "1.delta", "file does not exist", true},
		{"delta of another version", copyFile("4.delta", "5.delta"), 5, "5.delta", "holds the delta of version 4", false},
		{"snapshot in place of a delta", copyFile("6.snapshot", "7.delta"), 7, "7.delta", "holds the snapshot of version 6", false},
		{"missing snapshot falls back to the deltas", remove("6.snapshot"), 7, "", "", false},
		{"damaged files newer than the version are ignored", damage("7.delta", func([]byte) []byte { return nil }), 6, "", "", false},
		{"unknown files are ignored", copyFile("3.snapshot", "notes.txt"), 7, "", "", false},
	} {
		for _, backend := range backends {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				loc, h := build(t, backend)
				tc.damage(t, loc.Path())
				st, err := state.Open(context.Background(), loc, stateDir, tc.version, state.Options{Backend: backend, SnapshotInterval: 3})
				if tc.file == "" {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					defer st.Close()
					checkContents(t, st, h.refs[tc.version])
					return
				}
				if err == nil {
					st.Close()
					t.Fatalf("Open succeeded; want an error naming %s", tc.file)
				}
				var ce *checkpoint.CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("Open: %v (%T); want a *checkpoint.CorruptError", err, err)
				}
				if want := loc.Path() + "/" + stateDir + "/" + tc.file; ce.File != want {
					t.Errorf("CorruptError.File = %q; want %q", ce.File, want)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Open: %v; want it to contain %q", err, tc.want)
				}
				if errors.Is(err, fs.ErrNotExist) != tc.notExist {
					t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v; want %v", err, !tc.notExist, tc.notExist)
				}
			})
		}
	}
}

// failingStore fails the writes and removals of the names in fail.
type failingStore struct {
	checkpoint.Store
	fail map[string]bool
}

var errInjected = errors.New("injected failure")

func (f *failingStore) WriteFile(ctx context.Context, name string, data []byte) error {
	if f.fail[filepath.Base(name)] {
		return errInjected
	}
	return f.Store.WriteFile(ctx, name, data)
}

func (f *failingStore) Remove(ctx context.Context, name string) error {
	if f.fail[filepath.Base(name)] {
		return errInjected
	}
	return f.Store.Remove(ctx, name)
}

// TestCommitFailure checks that a failed Commit leaves the store at its version with its
// changes, and that a later Commit succeeds.
func TestCommitFailure(t *testing.T) {
	for _, failing := range []string{"2.delta", "2.snapshot"} {
		for _, backend := range backends {
			t.Run(backend+"/"+failing, func(t *testing.T) {
				fstore := &failingStore{Store: newLoc(t), fail: map[string]bool{failing: true}}
				opts := state.Options{Backend: backend, SnapshotInterval: 2}
				st := open(t, fstore, 0, opts)
				apply(st, []op{put("a", "1"), put("b", "2")})
				commit(t, st)
				apply(st, []op{put("a", "one"), del("b"), put("c", "3")})
				want := map[string]string{"a": "one", "c": "3"}
				before := st.Metrics()
				if err := st.Commit(context.Background()); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), failing) {
					t.Fatalf("Commit: %v; want the injected failure naming %s", err, failing)
				}
				if st.Version() != 1 {
					t.Errorf("Version() = %d after a failed commit; want 1", st.Version())
				}
				checkContents(t, st, want)
				after := st.Metrics()
				before.MemoryUsedBytes, after.MemoryUsedBytes = 0, 0
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("Metrics changed by a failed commit (-before +after):\n%s", diff)
				}
				delete(fstore.fail, failing)
				commit(t, st)
				checkContents(t, st, want)
				checkContents(t, open(t, fstore, 2, opts), want)
				checkContents(t, open(t, fstore, 1, opts), map[string]string{"a": "1", "b": "2"})
			})
		}
	}
}

// TestCrossBackend writes a checkpoint with one backend and loads it with the other, and
// checks that both write the same bytes for the same changes.
func TestCrossBackend(t *testing.T) {
	written := map[string]map[string][]byte{}
	for _, writer := range backends {
		loc := newLoc(t)
		st := open(t, loc, 0, state.Options{Backend: writer, SnapshotInterval: 4})
		h := newHistory(7)
		for range 13 {
			h.batch(t, st)
		}
		st.Close()
		written[writer] = map[string][]byte{}
		for _, name := range files(t, loc) {
			data, err := loc.ReadFile(context.Background(), stateDir+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			written[writer][name] = data
		}
		for _, reader := range backends {
			t.Run(writer+"->"+reader, func(t *testing.T) {
				for v := range int64(len(h.refs)) {
					got := open(t, loc, v, state.Options{Backend: reader, SnapshotInterval: 4})
					checkContents(t, got, h.refs[v])
					// The reader goes on writing where the writer stopped.
					if v == int64(len(h.refs)-1) {
						got.Put([]byte("next"), []byte(reader))
						commit(t, got)
						got.Close()
						want := maps(h.refs[v])
						want["next"] = reader
						checkContents(t, open(t, loc, v+1, state.Options{Backend: writer}), want)
					}
					got.Close()
				}
			})
		}
	}
	if diff := cmp.Diff(written[state.BackendMemory], written[state.BackendPebble]); diff != "" {
		t.Errorf("the backends wrote different files for the same changes (-memory +pebble):\n%s", diff)
	}
}

func TestMetrics(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := open(t, newLoc(t), 0, state.Options{Backend: backend})
			empty := st.Metrics()
			for i := range 1000 {
				st.Put(fmt.Appendf(nil, "key-%04d", i), make([]byte, 100))
			}
			m := st.Metrics()
			if m.NumKeys != 1000 || m.NumUpdated != 1000 || m.NumRemoved != 0 {
				t.Errorf("Metrics() = %+v; want 1000 keys, 1000 updated", m)
			}
			// 1000 keys of 8 bytes with 100-byte values hold at least 108,000 bytes.
			if m.MemoryUsedBytes-empty.MemoryUsedBytes < 108_000 {
				t.Errorf("MemoryUsedBytes = %d (empty: %d); want at least 108,000 more", m.MemoryUsedBytes, empty.MemoryUsedBytes)
			}
			commit(t, st)
			m = st.Metrics()
			if m.NumKeys != 1000 || m.NumUpdated != 0 || m.CommitTimeMs < 0 {
				t.Errorf("Metrics() after Commit = %+v", m)
			}
			if backend == state.BackendMemory && m.MemoryUsedBytes < 108_000 {
				t.Errorf("MemoryUsedBytes after Commit = %d; want at least 108,000", m.MemoryUsedBytes)
			}
		})
	}
}

// TestPebbleLocalDir checks that a working directory left by an earlier store is rebuilt from
// the checkpoint, that the same operator's state cannot be opened twice at once in one
// LocalDir, and that a temporary one is removed.
func TestPebbleLocalDir(t *testing.T) {
	loc := newLoc(t)
	local := t.TempDir()
	opts := state.Options{Backend: state.BackendPebble, LocalDir: local}
	st := open(t, loc, 0, opts)
	h := newHistory(8)
	for range 5 {
		h.batch(t, st)
	}
	st.Put([]byte("uncommitted"), []byte("x"))
	if _, err := state.Open(context.Background(), loc, stateDir, 5, opts); err == nil {
		t.Error("a second store opened the same LocalDir")
	}
	st.Close()

	st = open(t, loc, 2, opts)
	checkContents(t, st, h.refs[2])
	st.Close()

	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	st = open(t, loc, 5, state.Options{Backend: state.BackendPebble})
	checkContents(t, st, h.refs[5])
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("temporary directory holds %d entries while the store is open; want its working directory", len(entries))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Close left %v in the temporary directory", entries)
	}
}

func TestClosed(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := open(t, newLoc(t), 0, state.Options{Backend: backend})
			st.Put([]byte("a"), []byte("1"))
			commit(t, st)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, ok := st.Get([]byte("a")); ok {
				t.Error("Get after Close found a key")
			}
			if err := st.Commit(context.Background()); err == nil {
				t.Error("Commit after Close succeeded")
			}
			if err := st.Range(func(k, v []byte) bool { return true }); err == nil {
				t.Error("Range after Close succeeded")
			}
		})
	}
}
