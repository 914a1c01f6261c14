package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
)

// lockHelperEnv makes the test binary a helper process that takes the lock of the checkpoint
// directory named by the variable, prints "locked" and waits to be killed.
const lockHelperEnv = "SLUICE_CHECKPOINT_LOCK_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		os.Exit(lockHelper(dir))
	}
	os.Exit(m.Run())
}

func lockHelper(dir string) int {
	d, err := checkpoint.NewDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := d.Lock(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // bounded, should the parent test die before killing us
	return 0
}

func newDir(t *testing.T) *checkpoint.Dir {
	t.Helper()
	d, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// allFiles lists every file under root, hidden ones included, as slash paths.
func allFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	d, err := checkpoint.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		t.Fatalf("NewDir did not create %s: %v", root, err)
	}
	if d.Path() != root || d.String() != root {
		t.Errorf("Path, String = %q, %q; want %q", d.Path(), d.String(), root)
	}

	// A relative path becomes absolute.
	t.Chdir(t.TempDir())
	rel, err := checkpoint.NewDir("ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(rel.Path()) || filepath.Base(rel.Path()) != "ckpt" {
		t.Errorf("Path() = %q; want an absolute path ending in ckpt", rel.Path())
	}

	// A path that is a file is an error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.NewDir(file); err == nil {
		t.Errorf("NewDir(%s) on a regular file succeeded", file)
	}
}

// TestLockRemovesStaleTemporaryFiles checks that temporary files of interrupted writes are
// removed by the next holder of the lock, and only by it: while a query holds the lock they
// may be its writes in flight, which another query starting on the same checkpoint (and
// failing to lock it) must not break.
func TestLockRemovesStaleTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	// A running query holds the lock.
	holder, err := checkpoint.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	held, err := holder.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		".metadata.0a1b2c3d4e5f.tmp":            "in flight, or left by a crash",
		"offsets/.7.0a1b2c3d4e5f.tmp":           "in flight, or left by a crash",
		"sources/0/.initial.0a1b2c3d4e5f.tmp":   "in flight, or left by a crash",
		"offsets/7":                             "kept",
		"notes.tmp":                             "kept: not hidden",
		".hidden":                               "kept: not .tmp",
		"sources/0/initial":                     "kept",
		"commits/.7.tmp/inside-a-dir-named-tmp": "kept: in a directory, not a temp file",
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	all := allFiles(t, root)

	// Another query starting on the same location cannot take the lock, and leaves the
	// holder's temporary files alone.
	second, err := checkpoint.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Lock(ctx); !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("second Lock: %v", err)
	}
	if diff := cmp.Diff(all, allFiles(t, root)); diff != "" {
		t.Errorf("files after another query failed to lock (-want +got):\n%s", diff)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}

	// The next holder cleans up.
	c, err := second.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{".hidden", "commits/.7.tmp/inside-a-dir-named-tmp", "notes.tmp", "offsets/7", "sources/0/initial"}
	if diff := cmp.Diff(want, withoutLock(allFiles(t, root))); diff != "" {
		t.Errorf("files after Lock (-want +got):\n%s", diff)
	}
}

// withoutLock drops the lock file from a list of files.
func withoutLock(files []string) []string {
	return slices.DeleteFunc(files, func(f string) bool { return f == ".lock" })
}

func TestDirReadWrite(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)

	if _, err := d.ReadFile(ctx, "metadata"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v; want fs.ErrNotExist", err)
	}
	if _, err := d.ReadFile(ctx, "offsets/0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile in a missing directory: %v; want fs.ErrNotExist", err)
	}

	// Nested names create their directories.
	if err := d.WriteFile(ctx, "sources/3/initial", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(d.Path(), "sources", "3", "initial")); err != nil || string(got) != "x" {
		t.Errorf("file on disk = %q, %v", got, err)
	}

	// The content is replaced whole: a shorter write leaves nothing of the longer one.
	long := bytes.Repeat([]byte("long content "), 10000)
	if err := d.WriteFile(ctx, "metadata", long); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, "metadata", []byte("short\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadFile(ctx, "metadata"); err != nil || string(got) != "short\n" {
		t.Errorf("ReadFile after replacing = %q, %v; want %q", got, err, "short\n")
	}
	// An empty file is a file.
	if err := d.WriteFile(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadFile(ctx, "empty"); err != nil || len(got) != 0 {
		t.Errorf("ReadFile(empty) = %q, %v", got, err)
	}

	want := []string{"empty", "metadata", "sources/3/initial"}
	if diff := cmp.Diff(want, allFiles(t, d.Path())); diff != "" {
		t.Errorf("files on disk (-want +got), no temporary file may remain:\n%s", diff)
	}
}

func TestDirWriteFileFailureLeavesNoTemporaryFile(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	// "offsets" is a directory, so renaming a file over it fails after the temp file exists.
	if err := d.WriteFile(ctx, "offsets/0", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, "offsets", []byte("y")); err == nil {
		t.Fatal("WriteFile over a directory succeeded")
	}
	// A parent that is a file cannot be created.
	if err := d.WriteFile(ctx, "offsets/0/x", []byte("z")); err == nil {
		t.Fatal("WriteFile under a file succeeded")
	}
	if diff := cmp.Diff([]string{"offsets/0"}, allFiles(t, d.Path())); diff != "" {
		t.Errorf("files on disk (-want +got):\n%s", diff)
	}
}

// TestDirWriteFileAtomic reads a file while it is rewritten with two contents of different
// sizes: every read sees one of them whole.
func TestDirWriteFileAtomic(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	a := bytes.Repeat([]byte("a"), 256<<10)
	b := []byte("b\n")
	if err := d.WriteFile(ctx, "f", a); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range 40 {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := d.WriteFile(ctx, "f", data); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Error("no read happened during the writes")
			}
			if diff := cmp.Diff([]string{"f"}, allFiles(t, d.Path())); diff != "" {
				t.Errorf("files on disk (-want +got):\n%s", diff)
			}
			return
		default:
		}
		got, err := d.ReadFile(ctx, "f")
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read %d saw a partial file of %d bytes", reads, len(got))
		}
		reads++
	}
}

func TestDirConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	const writers, writes = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				name := fmt.Sprintf("offsets/%d", w)
				if err := d.WriteFile(ctx, name, fmt.Appendf(nil, "writer %d write %d", w, i)); err != nil {
					t.Error(err)
				}
				// Several writers on one file too: the last rename wins, whole.
				if err := d.WriteFile(ctx, "shared", fmt.Appendf(nil, "writer %d write %d", w, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	names, err := d.List(ctx, "offsets")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0", "1", "2", "3", "4", "5", "6", "7"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for w := range writers {
		got, err := d.ReadFile(ctx, fmt.Sprintf("offsets/%d", w))
		if want := fmt.Sprintf("writer %d write %d", w, writes-1); err != nil || string(got) != want {
			t.Errorf("offsets/%d = %q, %v; want %q", w, got, err, want)
		}
	}
	shared, err := d.ReadFile(ctx, "shared")
	var w, i int
	if _, serr := fmt.Sscanf(string(shared), "writer %d write %d", &w, &i); err != nil || serr != nil || i != writes-1 {
		t.Errorf("shared = %q, %v; want some writer's last write", shared, err)
	}
	if n := len(allFiles(t, d.Path())); n != writers+1 {
		t.Errorf("%d files on disk; want %d (no temporary file left): %v", n, writers+1, allFiles(t, d.Path()))
	}
}

func TestDirList(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	for _, name := range []string{"offsets/10", "offsets/2", "offsets/1", "offsets/.3.abc.tmp", "offsets/.hidden", "offsets/sub/4", "offsets/B", "offsets/a"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(d.Path(), name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Path(), name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.List(ctx, "offsets")
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by name (the Log sorts batch IDs numerically); hidden files and sub-directories
	// are not listed.
	if diff := cmp.Diff([]string{"1", "10", "2", "B", "a"}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, dir := range []string{"commits", "no/such/dir"} {
		got, err := d.List(ctx, dir)
		if err != nil || len(got) != 0 {
			t.Errorf("List(%q) = %q, %v; want empty", dir, got, err)
		}
	}
	// The root holds the lock file, which is not listed.
	c, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := d.List(ctx, "."); err != nil || len(got) != 0 {
		t.Errorf("List(.) = %q, %v; want empty (the lock is hidden)", got, err)
	}
}

func TestDirRemove(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	if err := d.Remove(ctx, "offsets/0"); err != nil {
		t.Errorf("Remove of a missing file: %v", err)
	}
	if err := d.WriteFile(ctx, "offsets/0", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, "offsets/0"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadFile(ctx, "offsets/0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile after Remove: %v", err)
	}
	if err := d.Remove(ctx, "offsets/0"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestDirLock(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	first, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second holder, in this process or another (via another Dir value on the same path),
	// is refused at once.
	other, err := checkpoint.NewDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*checkpoint.Dir{d, other} {
		c, err := s.Lock(ctx)
		if err == nil {
			c.Close()
			t.Fatal("second Lock succeeded")
		}
		if !errors.Is(err, checkpoint.ErrLocked) {
			t.Errorf("second Lock: %v; want ErrLocked", err)
		}
		if host, herr := os.Hostname(); herr == nil && isUnix {
			want := fmt.Sprintf("checkpoint is locked by another query: %s (held by pid %d on %s)", filepath.Join(d.Path(), ".lock"), os.Getpid(), host)
			if err.Error() != want {
				t.Errorf("second Lock:\n got %v\nwant %s", err, want)
			}
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := other.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	// A checkpoint's lock does not stop another checkpoint.
	c1, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := newDir(t).Lock(ctx)
	if err != nil {
		t.Fatalf("lock of another directory: %v", err)
	}
	c2.Close()
}

// TestDirLockReleasedWhenHolderDies runs a helper process that takes the lock, checks that it
// holds it, kills it with SIGKILL (no chance to clean up) and takes the lock.
func TestDirLockReleasedWhenHolderDies(t *testing.T) {
	if !isUnix {
		t.Skip("the lock outlives a killed process where flock is not available")
	}
	ctx := context.Background()
	d := newDir(t)
	child, killChild := startLockHelper(t, d.Path())

	_, err := d.Lock(ctx)
	if !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("Lock while the helper holds it: %v; want ErrLocked", err)
	}
	if want := fmt.Sprintf("(held by pid %d on ", child); !strings.Contains(err.Error(), want) {
		t.Errorf("Lock error %q does not name the holder (%s...)", err, want)
	}

	killChild()
	c, err := d.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	c.Close()
}

// TestLocalPath: a checkpoint location is a local path or a file: URL (as Spark's Hadoop paths);
// another scheme is refused rather than read as a relative directory named "s3:".
func TestLocalPath(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"/tmp/cp", "/tmp/cp", ""},
		{"rel/cp", "rel/cp", ""},
		{"file:///tmp/cp", "/tmp/cp", ""},
		{"file:/tmp/cp", "/tmp/cp", ""},
		{"FILE://localhost/tmp/cp", "/tmp/cp", ""},
		{"file://host/tmp/cp", "", `not host "host"`},
		{"s3://bucket/cp", "", "the s3:// scheme is not supported"},
		{"hdfs://nn/cp", "", "the hdfs:// scheme is not supported"},
	} {
		got, err := checkpoint.LocalPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("LocalPath(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("LocalPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	dir := t.TempDir()
	d, err := checkpoint.NewDir("file://" + dir)
	if err != nil || d.Path() != dir {
		t.Errorf("NewDir(file://%s) = %v, %v", dir, d, err)
	}
}
