package file

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// errExists is returned by storage.put with noClobber when the object already exists.
var errExists = errors.New("already exists")

// storage is where the sink keeps its files: a local directory or an S3 prefix. Names are
// '/'-separated and relative to the root.
type storage interface {
	// create starts writing the object name. Nothing is visible under name until the
	// object's commit returns nil.
	create(ctx context.Context, name string) (object, error)
	// put writes a small object atomically: readers see the old content (or none) or data.
	// With noClobber it fails with errExists if name exists (where the store can tell).
	put(ctx context.Context, name string, data []byte, noClobber bool) error
	// get reads an object; a missing one is an error wrapping fs.ErrNotExist.
	get(ctx context.Context, name string) ([]byte, error)
	// list returns every object below prefix ("" for all), recursively, in no order.
	list(ctx context.Context, prefix string) ([]objectInfo, error)
	// remove deletes an object; a missing one is not an error.
	remove(ctx context.Context, name string) error
	// sync makes the directory entries of committed objects durable (local: fsync of the
	// directories holding names and of their parents up to the root).
	sync(ctx context.Context, names []string) error
	String() string
}

// object is an object being written.
type object interface {
	io.Writer
	// commit makes the object visible under its name.
	commit() error
	// abort discards it.
	abort() error
}

type objectInfo struct {
	name string
	size int64
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// tempSuffix ends the name of every local temporary file.
const tempSuffix = ".tmp"

// localStorage keeps objects as files below a directory. A data file is written to a hidden
// temporary file next to its final name (".NAME.tmp"), fsynced and renamed when committed;
// small objects (manifests) likewise, but linked into place so that an existing one is never
// replaced.
type localStorage struct{ root string }

func newLocalStorage(dir string) (*localStorage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	return &localStorage{root: abs}, nil
}

func (s *localStorage) String() string { return s.root }

func (s *localStorage) path(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name))
}

// tempPath returns the hidden temporary path for name.
func tempPath(final string) string {
	return filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+tempSuffix)
}

func (s *localStorage) create(_ context.Context, name string) (object, error) {
	final := s.path(name)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	tmp := tempPath(final)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &localObject{f: f, w: bufio.NewWriterSize(f, 1<<20), tmp: tmp, final: final}, nil
}

type localObject struct {
	f          *os.File
	w          *bufio.Writer
	tmp, final string
}

func (o *localObject) Write(p []byte) (int, error) { return o.w.Write(p) }

func (o *localObject) commit() error {
	err := o.w.Flush()
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp, o.final)
	}
	if err != nil {
		_ = os.Remove(o.tmp)
	}
	return err
}

func (o *localObject) abort() error {
	o.f.Close()
	if err := os.Remove(o.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *localStorage) put(ctx context.Context, name string, data []byte, noClobber bool) error {
	final := s.path(name)
	dir := filepath.Dir(final)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if statErr != nil { // the directory is new: make its entry (and its parents') durable too
		if err := s.sync(ctx, []string{name}); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "."+filepath.Base(final)+"."+randomHex(8)+tempSuffix)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if noClobber {
		// A hard link never replaces an existing name: the filesystem decides atomically
		// whether this writer or another one committed the name.
		err = os.Link(tmp, final)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", final, errExists)
		}
		if err != nil {
			// No hard links here (some network or FUSE filesystems): check, then rename.
			if _, serr := os.Lstat(final); serr == nil {
				return fmt.Errorf("%s: %w", final, errExists)
			}
			err = os.Rename(tmp, final)
		}
	} else {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func (s *localStorage) get(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(s.path(name))
}

func (s *localStorage) list(_ context.Context, prefix string) ([]objectInfo, error) {
	start := s.path(prefix)
	var out []objectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		out = append(out, objectInfo{name: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	return out, err
}

func (s *localStorage) remove(_ context.Context, name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *localStorage) sync(_ context.Context, names []string) error {
	done := map[string]bool{}
	for _, n := range names {
		// The file's directory and every directory above it that may have been created.
		for d := path.Dir(n); ; d = path.Dir(d) {
			if done[d] {
				break
			}
			done[d] = true
			if err := syncDir(s.path(d)); err != nil {
				return err
			}
			if d == "." || d == "/" {
				break
			}
		}
	}
	return nil
}

// syncDir fsyncs a directory so that the entries created or renamed in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some filesystems do not support fsync on directories.
	if err != nil && (errors.Is(err, os.ErrInvalid) || strings.Contains(err.Error(), "invalid argument")) {
		return nil
	}
	return err
}
