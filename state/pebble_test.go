package state_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/state"
)

// TestPebbleLocalDirShared checks that stores of different operators, and of different
// queries, share one LocalDir: each works in its own subdirectory.
func TestPebbleLocalDirShared(t *testing.T) {
	local := t.TempDir()
	opts := state.Options{Backend: state.BackendPebble, LocalDir: local}
	loc1, loc2 := newLoc(t), newLoc(t)
	type op struct {
		loc checkpoint.Store
		dir string
	}
	ops := []op{{loc1, "state/0"}, {loc1, "state/1"}, {loc2, "state/0"}}
	var stores []state.Store
	for i, o := range ops {
		st, err := state.Open(context.Background(), o.loc, o.dir, 0, opts)
		if err != nil {
			t.Fatalf("Open %s/%s with a LocalDir another store uses: %v", o.loc, o.dir, err)
		}
		t.Cleanup(func() { _ = st.Close() })
		st.Put([]byte("k"), []byte(strconv.Itoa(i)))
		commit(t, st)
		stores = append(stores, st)
	}
	if entries, _ := os.ReadDir(local); len(entries) != len(ops) {
		t.Errorf("LocalDir holds %d entries; want one working directory per store (%d)", len(entries), len(ops))
	}
	for i, st := range stores {
		checkContents(t, st, map[string]string{"k": strconv.Itoa(i)})
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range ops {
		st, err := state.Open(context.Background(), o.loc, o.dir, 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkContents(t, st, map[string]string{"k": strconv.Itoa(i)})
		st.Close()
	}
}

// sizeStore records the largest file read and written.
type sizeStore struct {
	checkpoint.Store
	mu                sync.Mutex
	maxRead, maxWrite int
	written           int
}

func (s *sizeStore) ReadFile(ctx context.Context, name string) ([]byte, error) {
	data, err := s.Store.ReadFile(ctx, name)
	s.mu.Lock()
	s.maxRead = max(s.maxRead, len(data))
	s.mu.Unlock()
	return data, err
}

func (s *sizeStore) WriteFile(ctx context.Context, name string, data []byte) error {
	s.mu.Lock()
	s.maxWrite = max(s.maxWrite, len(data))
	s.written += len(data)
	s.mu.Unlock()
	return s.Store.WriteFile(ctx, name, data)
}

// TestPebbleSnapshotBounded checks that the Pebble backend writes and reads a snapshot much
// larger than its part size one part at a time, that the parts load in both backends, and
// that a missing or swapped part is reported.
func TestPebbleSnapshotBounded(t *testing.T) {
	const part, batches, perBatch = 16 << 10, 20, 1000
	defer state.SetSnapshotPartBytes(part)()
	dir := newLoc(t)
	loc := &sizeStore{Store: dir}
	opts := state.Options{Backend: state.BackendPebble, SnapshotInterval: batches}
	st := open(t, loc, 0, opts)
	want := map[string]string{}
	value := strings.Repeat("v", 40)
	for b := range batches {
		for i := range perBatch {
			k := fmt.Sprintf("key-%03d-%06d", i%97, b*perBatch+i)
			st.Put([]byte(k), []byte(value))
			want[k] = value
		}
		commit(t, st)
	}
	st.Close()
	names := files(t, dir)
	var parts int
	var snapshotBytes int64
	for _, name := range names {
		if strings.HasPrefix(name, fmt.Sprint(batches)+".snapshot") {
			info, err := os.Stat(filepath.Join(dir.Path(), stateDir, name))
			if err != nil {
				t.Fatal(err)
			}
			snapshotBytes += info.Size()
			if name != fmt.Sprint(batches)+".snapshot" {
				parts++
			}
		}
	}
	if snapshotBytes < 1<<20 {
		t.Fatalf("snapshot of %d bytes; the test needs a state of 1 MiB", snapshotBytes)
	}
	// A delta holds one batch's changes (about 60 KB); a snapshot part about 16 KB.
	const limit = 100 << 10
	if loc.maxWrite > limit {
		t.Fatalf("largest file written: %d bytes; want at most %d (the snapshot is %d bytes)", loc.maxWrite, limit, snapshotBytes)
	}
	if parts < 60 {
		t.Errorf("snapshot of %d bytes in %d parts of %d bytes; want more (files %v)", snapshotBytes, parts, part, names)
	}
	for _, backend := range backends {
		loc.maxRead = 0
		got := open(t, loc, batches, state.Options{Backend: backend})
		checkContents(t, got, want)
		got.Close()
		if backend == state.BackendPebble && loc.maxRead > part+1024 {
			t.Errorf("loading the snapshot read a file of %d bytes; want at most one part (%d)", loc.maxRead, part)
		}
	}

	// The memory backend writes the same state as one snapshot file.
	mem := newLoc(t)
	st = open(t, mem, 0, state.Options{SnapshotInterval: 1})
	for k, v := range want {
		st.Put([]byte(k), []byte(v))
	}
	commit(t, st)
	st.Close()
	if got := files(t, mem); len(got) != 2 {
		t.Errorf("memory backend wrote %v; want one delta and one snapshot", got)
	}

	// A damaged set of parts is reported, never loaded.
	partPath := func(i int) string { return fmt.Sprintf("%s/%d.snapshot.%d", stateDir, batches, i) }
	p1, err := dir.ReadFile(context.Background(), partPath(1))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := dir.ReadFile(context.Background(), partPath(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		damage   func() error
		notExist bool
	}{
		{"swapped", func() error {
			return errors.Join(dir.WriteFile(context.Background(), partPath(1), p2), dir.WriteFile(context.Background(), partPath(2), p1))
		}, false},
		{"missing", func() error {
			return errors.Join(dir.WriteFile(context.Background(), partPath(1), p1), dir.Remove(context.Background(), partPath(2)))
		}, true},
	} {
		if err := tc.damage(); err != nil {
			t.Fatal(err)
		}
		for _, backend := range backends {
			_, err := state.Open(context.Background(), dir, stateDir, batches, state.Options{Backend: backend})
			var corrupt *checkpoint.CorruptError
			if !errors.As(err, &corrupt) || !strings.HasSuffix(corrupt.File, fmt.Sprintf("%d.snapshot.%d", batches, 1+boolInt(tc.notExist))) || errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("%s part, %s: Open error %v; want a CorruptError naming the part", tc.name, backend, err)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPebblePurgeParts checks that a snapshot's parts are removed with it.
func TestPebblePurgeParts(t *testing.T) {
	defer state.SetSnapshotPartBytes(64)()
	loc := newLoc(t)
	st := open(t, loc, 0, state.Options{Backend: state.BackendPebble, SnapshotInterval: 2, MinVersionsToRetain: 1})
	for v := range 8 {
		for i := range 20 {
			st.Put(fmt.Appendf(nil, "key-%02d", i), fmt.Appendf(nil, "value-%d", v))
		}
		commit(t, st)
	}
	for _, name := range files(t, loc) {
		if !strings.HasPrefix(name, "8.") {
			t.Errorf("file %s left after version 8 with MinVersionsToRetain 1", name)
		}
	}
}

// TestPebbleSweepsTempDirs checks that Open removes the temporary working directories of
// processes that ended without closing their stores, and only those.
func TestPebbleSweepsTempDirs(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no process to take a dead process id from:", err)
	}
	dead := cmd.ProcessState.Pid()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	keep := []string{
		fmt.Sprintf("sluice-state-%d-1", os.Getpid()),  // this process
		fmt.Sprintf("sluice-state-%d-2", os.Getppid()), // a running process
		"sluice-state-123456789",                       // an older build's: no process id
		"other-dir",
	}
	gone := fmt.Sprintf("sluice-state-%d-3", dead)
	for _, name := range append(keep, gone) {
		if err := os.MkdirAll(filepath.Join(tmp, name, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st := open(t, newLoc(t), 0, state.Options{Backend: state.BackendPebble})
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(tmp, name)); err != nil {
			t.Errorf("Open removed %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, gone)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open left %s, the directory of a process that ended (stat: %v)", gone, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
