package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Store is the storage behind a checkpoint location. Names are slash-separated paths relative
// to the location. Implementations are safe for concurrent use.
type Store interface {
	// ReadFile returns a file's content, or an error satisfying errors.Is(err, fs.ErrNotExist).
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// WriteFile replaces a file atomically and durably: after it returns nil the content
	// survives a crash, and a reader never sees a partial file.
	WriteFile(ctx context.Context, name string, data []byte) error
	// List returns the names of the files directly inside dir (not sub-directories), sorted;
	// an empty list when dir does not exist.
	List(ctx context.Context, dir string) ([]string, error)
	// Remove deletes a file; a missing file is not an error.
	Remove(ctx context.Context, name string) error
	// Lock takes the location's exclusive lock, held until the returned Closer is closed or the
	// process ends. It fails at once with an error wrapping ErrLocked when another holder has it.
	Lock(ctx context.Context) (io.Closer, error)
	// String names the location for messages.
	String() string
}

// ErrLocked is wrapped by the error of Lock when another query holds the checkpoint.
var ErrLocked = errors.New("checkpoint is locked by another query")

// ErrLockLost is wrapped by LockHolder.Held's error when the checkpoint's lock is no longer
// the holder's (its file was deleted or replaced, for example with the whole checkpoint).
var ErrLockLost = errors.New("checkpoint lock lost")

// LockHolder is implemented by the locks Store.Lock returns when they can tell whether they
// are still held. A query checks before it plans each batch and stops when the lock is lost,
// so that two queries never write one checkpoint.
type LockHolder interface {
	Held() error
}

// Dir is a Store on a local file system directory.
type Dir struct {
	root string
}

// NewDir returns a Store rooted at path, creating the directory if needed. Temporary files
// left by an interrupted write are removed by Lock, once it holds the lock: before that they
// may belong to a write in flight of the query that holds it.
func NewDir(path string) (*Dir, error) {
	local, err := LocalPath(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: location %q: %w", path, err)
	}
	path = local
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", abs, err)
	}
	return &Dir{root: abs}, nil
}

// removeTemporaryFiles removes the temporary files of interrupted writes.
func (d *Dir) removeTemporaryFiles() {
	_ = filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".tmp") {
			_ = os.Remove(p)
		}
		return nil
	})
}

// Path returns the directory's absolute path.
func (d *Dir) Path() string { return d.root }

// String returns the directory's absolute path.
func (d *Dir) String() string { return d.root }

func (d *Dir) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

// ReadFile implements Store.
func (d *Dir) ReadFile(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(d.path(name))
}

// WriteFile implements Store: it writes a temporary file in the same directory, syncs it,
// renames it over name and syncs the directory.
func (d *Dir) WriteFile(_ context.Context, name string, data []byte) error {
	full := d.path(name)
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(full)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, full)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// List implements Store. Hidden files (temporary files, the lock) are not listed.
func (d *Dir) List(_ context.Context, dir string) ([]string, error) {
	entries, err := os.ReadDir(d.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Remove implements Store.
func (d *Dir) Remove(_ context.Context, name string) error {
	err := os.Remove(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Lock implements Store with an advisory lock (flock) on the file ".lock", which the kernel
// releases when the process dies, so a query killed with SIGKILL does not leave it behind.
// Once it holds the lock it removes the temporary files left by interrupted writes.
func (d *Dir) Lock(context.Context) (io.Closer, error) {
	l, err := lockFile(filepath.Join(d.root, ".lock"))
	if err != nil {
		return nil, err
	}
	d.removeTemporaryFiles()
	return l, nil
}

// LocalPath returns the local directory a checkpoint location names: a path, or a file: URL
// (file:///tmp/cp or file:/tmp/cp, as Spark's Hadoop paths). A location with another scheme
// (s3://, hdfs://...) is an error: only local checkpoints are supported, and such a location
// would otherwise be read as a relative directory named like the scheme.
func LocalPath(location string) (string, error) {
	scheme, rest, ok := strings.Cut(location, ":")
	if !ok || strings.ContainsAny(scheme, `/\.`) || len(scheme) < 2 {
		return location, nil // no scheme (a Windows drive letter is one character)
	}
	if !strings.EqualFold(scheme, "file") {
		if strings.HasPrefix(rest, "//") {
			return "", fmt.Errorf("the %s:// scheme is not supported; give a local directory (or a file:// URL)", scheme)
		}
		return location, nil // a relative path with a colon in its first segment
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", err
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("a file URL must name a local path (file:///dir), not host %q", u.Host)
	}
	if u.Path == "" {
		return "", errors.New("the file URL names no directory")
	}
	return filepath.FromSlash(u.Path), nil
}
