package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// pebbleBackend keeps the committed state in a Pebble database on local disk. The database is
// a cache of the checkpoint's files, rebuilt at Open: it runs without a write-ahead log and
// never syncs, since the delta files are what makes a version durable.
type pebbleBackend struct {
	db        *pebble.DB
	dir       string
	removeDir bool
}

// loadBatchBytes is the size of the batches that fill the database at Open.
const loadBatchBytes = 4 << 20

// tempDirPrefix starts the names of the temporary working directories, made in os.TempDir()
// when Options.LocalDir is empty: tempDirPrefix, the process id, a dash, a random number.
const tempDirPrefix = "sluice-state-"

// openPebble opens the database of the state under dir in the checkpoint location (named by
// its String) in its working directory: a subdirectory of localDir (see workDirName), or a
// new temporary directory when localDir is empty.
func openPebble(localDir, location, dir string) (*pebbleBackend, error) {
	b := &pebbleBackend{}
	if localDir != "" {
		b.dir = filepath.Join(localDir, workDirName(location, dir))
		if err := os.MkdirAll(b.dir, 0o755); err != nil {
			return nil, fmt.Errorf("state: pebble working directory: %w", err)
		}
	} else {
		sweepTempDirs(os.TempDir())
		dir, err := os.MkdirTemp("", tempDirPrefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, fmt.Errorf("state: pebble working directory: %w", err)
		}
		b.dir, b.removeDir = dir, true
	}
	opts := &pebble.Options{DisableWAL: true, Logger: pebbleLogger{}}
	// Every Put and Delete of a key the batch has not touched yet looks it up (to keep
	// NumKeys exact), often to find it missing: a Bloom filter answers that without reading
	// blocks.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(b.dir, opts)
	if err != nil {
		if b.removeDir {
			_ = os.RemoveAll(b.dir)
		}
		return nil, fmt.Errorf("state: open pebble in %s: %w", b.dir, err)
	}
	b.db = db
	if err := b.clear(); err != nil {
		return nil, errors.Join(fmt.Errorf("state: clear pebble in %s: %w", b.dir, err), b.close())
	}
	return b, nil
}

// workDirName returns the name of the working directory, inside Options.LocalDir, of the
// state under dir in the checkpoint location: a hash of both, so that every operator of every
// query has its own, followed by a readable part of them, e.g.
// "3f2a9c0d4e5b6a71-myquery-state-0".
func workDirName(location, dir string) string {
	sum := sha256.Sum256([]byte(location + "\x00" + dir))
	readable := []byte(filepath.Base(filepath.Clean(location)) + "-" + dir)
	for i, c := range readable {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			readable[i] = '-'
		}
	}
	if len(readable) > 48 {
		readable = readable[len(readable)-48:]
	}
	return hex.EncodeToString(sum[:8]) + "-" + string(readable)
}

// sweepTempDirs removes, best effort, the temporary working directories in tmp of processes
// that ended without closing their stores (killed, or crashed): those whose name holds the id
// of a process that no longer runs and whose Pebble LOCK file no process holds. Directories
// of older builds, without a process id, are left alone.
func sweepTempDirs(tmp string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, random, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == self || strconv.Itoa(pid) != pidText || random == "" {
			continue
		}
		if dir := filepath.Join(tmp, e.Name()); !processAlive(pid) && !lockedByOther(filepath.Join(dir, "LOCK")) {
			_ = os.RemoveAll(dir)
		}
	}
}

// clear deletes what an earlier run left in the database.
func (b *pebbleBackend) clear() error {
	it, err := b.db.NewIter(nil)
	if err != nil {
		return err
	}
	var first, last []byte
	if it.First() {
		first = append([]byte{}, it.Key()...)
		if it.Last() {
			last = append(append([]byte{}, it.Key()...), 0) // DeleteRange's end is exclusive
		}
	}
	if err := it.Close(); err != nil || first == nil {
		return err
	}
	return b.db.DeleteRange(first, last, pebble.NoSync)
}

func (b *pebbleBackend) get(key []byte) ([]byte, bool, error) {
	v, closer, err := b.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = append(make([]byte, 0, len(v)), v...)
	return v, true, closer.Close()
}

// scan is always in key order.
func (b *pebbleBackend) scan(_ bool, fn func(key, value []byte) bool) error {
	it, err := b.db.NewIter(nil)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil || !fn(it.Key(), v) {
			break
		}
	}
	return it.Close() // the iterator's error, if any
}

// apply writes the changes in one batch, which Pebble applies atomically.
func (b *pebbleBackend) apply(keys []string, changes map[string]pending) error {
	batch := b.db.NewBatch()
	defer batch.Close()
	for _, k := range keys {
		p := changes[k]
		var op *pebble.DeferredBatchOp
		if p.deleted {
			op = batch.DeleteDeferred(len(k))
		} else {
			op = batch.SetDeferred(len(k), len(p.value))
			copy(op.Value, p.value)
		}
		copy(op.Key, k)
		if err := op.Finish(); err != nil {
			return err
		}
	}
	return b.db.Apply(batch, pebble.NoSync)
}

// load checks which keys exist with one iterator that seeks forward through the entries'
// keys, much cheaper than a Get per key; the iterator sees the database as it was before the
// batches of load.
func (b *pebbleBackend) load(entries iter.Seq[entry], _ int64) (added int64, err error) {
	it, err := b.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	batch := b.db.NewBatch()
	defer func() {
		err = errors.Join(err, it.Close())
		_ = batch.Close()
	}()
	for e := range entries {
		had := seekGE(it, e.key) && bytes.Equal(it.Key(), e.key)
		if e.deleted {
			if had {
				added--
			}
			err = batch.Delete(e.key, nil)
		} else {
			if !had {
				added++
			}
			err = batch.Set(e.key, e.value, nil)
		}
		if err != nil {
			return 0, err
		}
		if batch.Len() >= loadBatchBytes {
			if err := b.db.Apply(batch, pebble.NoSync); err != nil {
				return 0, err
			}
			batch.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	return added, b.db.Apply(batch, pebble.NoSync)
}

// seekGE is it.SeekGE(key). The empty key is the first there can be: Pebble v2.1.7 built
// with -race (which enables its invariant checks) indexes key[0] in SeekGE when key is
// empty but not nil, so First stands in for it.
func seekGE(it *pebble.Iterator, key []byte) bool {
	if len(key) == 0 {
		return it.First()
	}
	return it.SeekGE(key)
}

// memoryBytes is the memory Pebble's metrics say it holds: its memtables (the mutable one
// and those waiting to be flushed, each allocated at its full size), the block cache and the
// file cache's open table readers. Pebble bounds all of them (by default a 4 MiB memtable,
// at most two queued, and an 8 MiB block cache), whatever the size of the state on disk.
// Not counted: the buffers of a Get or an iterator in use, and at Open the load batch
// (loadBatchBytes) and the state file being loaded (at most one snapshot part or delta).
func (b *pebbleBackend) memoryBytes() int64 {
	m := b.db.Metrics()
	return int64(m.MemTable.Size+m.MemTable.ZombieSize) + m.BlockCache.Size + m.FileCache.Size
}

func (b *pebbleBackend) close() error {
	err := b.db.Close()
	if b.removeDir {
		err = errors.Join(err, os.RemoveAll(b.dir))
	}
	return err
}

// pebbleLogger drops Pebble's informational messages and keeps its errors.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any) {}

func (pebbleLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (pebbleLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
