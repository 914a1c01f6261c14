package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sluicedev/sluice/checkpoint"
)

// backend holds a store's committed state. The store keeps the uncommitted changes itself.
type backend interface {
	// get returns the committed value of key, valid until the next apply.
	get(key []byte) (value []byte, ok bool, err error)
	// scan calls fn for every committed entry until fn returns false; in key order when
	// sorted is set. key and value are valid during the call only.
	scan(sorted bool, fn func(key, value []byte) bool) error
	// apply makes the changes of keys (sorted) part of the committed state, all or none of
	// them. It takes over the changes' values.
	apply(keys []string, changes map[string]pending) error
	// load applies the entries of a file (in key order, each key once), copying them, for
	// filling the state at Open; it need not be atomic. It returns by how much the number of
	// keys changed. n is the number of entries.
	load(entries iter.Seq[entry], n int64) (added int64, err error)
	// memoryBytes estimates the memory the committed state holds.
	memoryBytes() int64
	close() error
}

// pending is an uncommitted change of one key.
type pending struct {
	value   []byte // the new value unless deleted
	deleted bool
	existed bool // whether the key is in the committed state
}

// pendingEntryOverhead is what one uncommitted change costs besides its key and value bytes:
// its map slot at the average load of Go's maps and the allocations' rounding, measured with
// 1M entries on amd64.
const pendingEntryOverhead = 120

// store is the Store of both backends: the backend holds version's committed state, store the
// changes of the batch in progress and the files in the checkpoint.
type store struct {
	loc     checkpoint.Store
	dir     string
	opts    Options
	b       backend
	version int64

	changes      map[string]pending
	changeBytes  int64 // key and value bytes of changes
	numKeys      int64 // with the changes
	committed    int64 // without them
	numUpdated   int64
	numRemoved   int64
	readErr      error // a backend read that failed during the batch in progress
	commitTimeMs int64

	// lastKey and lastFound remember the committed state's answer for the key Get read last,
	// so the Put that usually follows (read-modify-write) does not look it up again. The
	// committed state changes at Commit only, which forgets them.
	lastKey   []byte
	lastFound bool
	lastValid bool

	// snapshots are the versions of the snapshot files at or before version, ascending.
	snapshots []int64
	// stale are the versions of snapshot files newer than the version opened: written by a
	// batch that never committed, they are removed before their version is written again.
	stale map[int64]bool
	// purgedTo is the snapshot version below which the files were removed last.
	purgedTo int64
	closed   bool
}

var _ Store = (*store)(nil)

// errClosed is returned by a closed store's Commit and Range.
var errClosed = errors.New("state: store is closed")

// Open returns the state kept under dir in the checkpoint store loc, at committed version
// version: version 0 is the empty state and needs no files; version v > 0 is the newest
// snapshot at or before v plus the deltas after it up to v. Files newer than version,
// written by a batch that never committed, are ignored and overwritten by later commits. A
// missing or damaged file that version needs is a *checkpoint.CorruptError naming it (for a
// missing one, errors.Is(err, fs.ErrNotExist) holds): the state is never reset silently.
func Open(ctx context.Context, loc checkpoint.Store, dir string, version int64, opts Options) (Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if version < 0 {
		return nil, fmt.Errorf("state: version %d is negative", version)
	}
	if clean := path.Clean(dir); clean == "." || clean == "/" || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("state: directory %q is not a directory inside the checkpoint", dir)
	} else {
		dir = clean
	}
	names, err := loc.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("state: list %s/%s: %w", loc, dir, err)
	}
	var b backend
	switch opts.Backend {
	case BackendMemory:
		b = newMemoryBackend()
	case BackendPebble:
		if b, err = openPebble(opts.LocalDir, loc.String(), dir); err != nil {
			return nil, err
		}
	}
	s := &store{loc: loc, dir: dir, opts: opts, b: b, version: version, changes: map[string]pending{}, stale: map[int64]bool{}}
	if err := s.load(ctx, names); err != nil {
		_ = b.close()
		return nil, err
	}
	return s, nil
}

// fileName returns the name of a state file inside the store's directory.
func fileName(kind byte, version int64) string {
	return strconv.FormatInt(version, 10) + "." + kindName(kind)
}

// parseFileName returns the kind and version a file name denotes; ok is false for names the
// store did not write.
func parseFileName(name string) (kind byte, version int64, ok bool) {
	base, ext, found := strings.Cut(name, ".")
	switch ext {
	case "delta":
		kind = kindDelta
	case "snapshot":
		kind = kindSnapshot
	default:
		return 0, 0, false
	}
	v, err := strconv.ParseInt(base, 10, 64)
	if !found || err != nil || v <= 0 || strconv.FormatInt(v, 10) != base {
		return 0, 0, false
	}
	return kind, v, true
}

// snapshotPartBytes is the size of the parts the Pebble backend writes a snapshot in (see
// format.go); a variable for tests.
var snapshotPartBytes = 4 << 20

// partFileName returns the name of part i (from 1) of the snapshot of version.
func partFileName(version int64, i int) string {
	return fileName(kindSnapshot, version) + "." + strconv.Itoa(i)
}

// parsePartFileName returns the snapshot version of a part's file name; ok is false for
// other names.
func parsePartFileName(name string) (version int64, ok bool) {
	rest, part, found := strings.Cut(name, ".snapshot.")
	if !found {
		return 0, false
	}
	i, err := strconv.Atoi(part)
	if err != nil || i <= 0 || strconv.Itoa(i) != part {
		return 0, false
	}
	kind, v, ok := parseFileName(rest + ".snapshot")
	return v, ok && kind == kindSnapshot
}

func (s *store) path(name string) string { return s.dir + "/" + name }

// where names a file for messages, as the checkpoint package does.
func (s *store) where(name string) string { return s.loc.String() + "/" + s.path(name) }

func (s *store) corrupt(name string, err error) error {
	return &checkpoint.CorruptError{File: s.where(name), Err: err}
}

// load fills the backend with version s.version from the files listed in names.
func (s *store) load(ctx context.Context, names []string) error {
	deltas := map[int64]bool{}
	var base int64 // the snapshot loading starts from; 0 is the empty state
	for _, name := range names {
		kind, v, ok := parseFileName(name)
		switch {
		case !ok:
		case kind == kindDelta:
			deltas[v] = true
		case v > s.version:
			s.stale[v] = true
		default:
			s.snapshots = append(s.snapshots, v)
			base = max(base, v)
		}
	}
	slices.Sort(s.snapshots)
	for v := base + 1; v <= s.version; v++ {
		if !deltas[v] {
			snap := "none"
			if base > 0 {
				snap = fileName(kindSnapshot, base)
			}
			return s.corrupt(fileName(kindDelta, v), fmt.Errorf("%w: needed to load version %d (snapshot it starts from: %s)", fs.ErrNotExist, s.version, snap))
		}
	}
	for v := max(base, 1); v <= s.version; v++ {
		if v == base {
			if err := s.loadSnapshot(ctx, v); err != nil {
				return err
			}
			continue
		}
		name := fileName(kindDelta, v)
		f, err := s.readFile(ctx, name, kindDelta, v)
		if err != nil {
			return err
		}
		if err := s.loadEntries(f, name); err != nil {
			return err
		}
	}
	s.numKeys = s.committed
	return nil
}

// loadEntries applies the entries of a file to the backend.
func (s *store) loadEntries(f stateFile, name string) error {
	added, err := s.b.load(f.entries(), f.count)
	if err != nil {
		return fmt.Errorf("state: load %s: %w", s.where(name), err)
	}
	s.committed += added
	return nil
}

// loadSnapshot loads the snapshot of version, written as one file or in parts, reading one
// file at a time.
func (s *store) loadSnapshot(ctx context.Context, version int64) error {
	name := fileName(kindSnapshot, version)
	f, err := s.readFile(ctx, name, kindSnapshot, version)
	if err != nil || f.kind == kindSnapshot {
		if err == nil {
			err = s.loadEntries(f, name)
		}
		return err
	}
	parts, err := parseManifest(f)
	if err != nil {
		return s.corrupt(name, err)
	}
	var last []byte // the last key of the part before
	for i, p := range parts {
		pname := partFileName(version, i+1)
		pf, err := s.readFile(ctx, pname, kindSnapshot, version)
		if err != nil {
			return err
		}
		if pf.kind != kindSnapshot || pf.count != p.count || pf.sum != p.sum {
			return s.corrupt(pname, fmt.Errorf("is not the part %d that the manifest %s lists (%d entries, checksum %08x)", i+1, name, p.count, p.sum))
		}
		first := true
		for e := range pf.entries() {
			if first && i > 0 && bytes.Compare(last, e.key) >= 0 {
				return s.corrupt(pname, fmt.Errorf("first key %q is not after the last key %q of the part before", e.key, last))
			}
			first = false
			last = append(last[:0], e.key...)
		}
		if err := s.loadEntries(pf, pname); err != nil {
			return err
		}
	}
	return nil
}

// readFile reads and checks the file name, which holds the file of kind and version (or,
// for a snapshot, its manifest).
func (s *store) readFile(ctx context.Context, name string, kind byte, version int64) (stateFile, error) {
	if err := ctx.Err(); err != nil {
		return stateFile{}, err
	}
	data, err := s.loc.ReadFile(ctx, s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return stateFile{}, s.corrupt(name, fmt.Errorf("%w: needed to load version %d", fs.ErrNotExist, s.version))
	}
	if err != nil {
		return stateFile{}, fmt.Errorf("state: read %s: %w", s.where(name), err)
	}
	f, err := parseFile(data)
	if err != nil {
		return f, s.corrupt(name, err)
	}
	if (f.kind != kind && !(kind == kindSnapshot && f.kind == kindParts)) || f.version != version {
		return f, s.corrupt(name, fmt.Errorf("holds the %s of version %d", kindName(f.kind), f.version))
	}
	return f, nil
}

// Version implements Store.
func (s *store) Version() int64 { return s.version }

// Get implements Store.
func (s *store) Get(key []byte) ([]byte, bool) {
	if p, ok := s.changes[string(key)]; ok {
		return p.value, !p.deleted
	}
	if s.closed {
		return nil, false
	}
	v, ok, err := s.b.get(key)
	if err != nil {
		s.readFailed(err)
		return nil, false
	}
	s.lastKey, s.lastFound, s.lastValid = append(s.lastKey[:0], key...), ok, true
	return v, ok
}

// has reports whether key is in the committed state.
func (s *store) has(key []byte) bool {
	if s.closed {
		return false
	}
	if s.lastValid && bytes.Equal(key, s.lastKey) {
		return s.lastFound
	}
	_, ok, err := s.b.get(key)
	if err != nil {
		s.readFailed(err)
	}
	return ok
}

func (s *store) readFailed(err error) {
	if s.readErr == nil {
		s.readErr = err
	}
}

// Put implements Store.
func (s *store) Put(key, value []byte) {
	p, ok := s.changes[string(key)]
	if ok {
		s.forget(key, p)
	} else {
		p.existed = s.has(key)
		p.deleted = !p.existed
	}
	if p.deleted {
		s.numKeys++
	}
	s.changes[string(key)] = pending{value: append(make([]byte, 0, len(value)), value...), existed: p.existed}
	s.changeBytes += int64(len(key) + len(value))
	s.numUpdated++
}

// Delete implements Store.
func (s *store) Delete(key []byte) {
	p, ok := s.changes[string(key)]
	switch {
	case ok && p.deleted:
		return
	case ok:
		s.forget(key, p)
	case !s.has(key):
		return
	default:
		p.existed = true
	}
	s.numKeys--
	if !p.existed {
		delete(s.changes, string(key))
		return
	}
	s.changes[string(key)] = pending{deleted: true, existed: true}
	s.changeBytes += int64(len(key))
	s.numRemoved++
}

// forget takes the change p of key out of the counters, before it is replaced.
func (s *store) forget(key []byte, p pending) {
	s.changeBytes -= int64(len(key) + len(p.value))
	if p.deleted {
		s.numRemoved--
	} else {
		s.numUpdated--
	}
}

// Range implements Store.
func (s *store) Range(fn func(key, value []byte) bool) error {
	if s.closed {
		return errClosed
	}
	more := true
	err := s.b.scan(false, func(k, v []byte) bool {
		if _, ok := s.changes[string(k)]; ok {
			return true
		}
		more = fn(k, v)
		return more
	})
	if err != nil {
		return fmt.Errorf("state: range %s: %w", s.where(""), err)
	}
	for k, p := range s.changes {
		if !more {
			break
		}
		if !p.deleted {
			more = fn(bytesOf(k), p.value)
		}
	}
	return nil
}

// sortedChanges returns the changes in key order.
func (s *store) sortedChanges() []string {
	keys := make([]string, 0, len(s.changes))
	for k := range s.changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// bytesOf returns the bytes of s without copying them; they must not be changed.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// changeEntries returns the changes of keys as entries.
func (s *store) changeEntries(keys []string) iter.Seq[entry] {
	return func(yield func(entry) bool) {
		for _, k := range keys {
			p := s.changes[k]
			if !yield(entry{key: bytesOf(k), value: p.value, deleted: p.deleted}) {
				return
			}
		}
	}
}

// stateEntries returns the whole state with the changes of keys, in key order. A backend
// error stops the sequence and is stored in *errp.
func (s *store) stateEntries(keys []string, errp *error) iter.Seq[entry] {
	return func(yield func(entry) bool) {
		i, more := 0, true
		// flush yields the changed keys before k (all of them when all is set), and reports
		// whether k itself was changed.
		flush := func(k []byte, all bool) (changed bool) {
			for ; more && i < len(keys); i++ {
				c := -1
				if !all {
					c = strings.Compare(keys[i], string(k))
				}
				if c > 0 {
					return false
				}
				if p := s.changes[keys[i]]; !p.deleted {
					more = yield(entry{key: bytesOf(keys[i]), value: p.value})
				}
				if c == 0 {
					i++
					return true
				}
			}
			return false
		}
		err := s.b.scan(true, func(k, v []byte) bool {
			if !flush(k, false) && more {
				more = yield(entry{key: k, value: v})
			}
			return more
		})
		if err != nil {
			*errp = err
			return
		}
		flush(nil, true)
	}
}

// Commit implements Store. It removes a stale snapshot of the new version, writes the
// delta, then the snapshot when one is due, and only then applies the changes to the
// backend: when any step fails the store stays at its version with its changes, and the files
// it wrote are those of a batch that never committed. Files no retained version needs are
// removed afterwards, best effort: a failed removal is retried after the next commit.
func (s *store) Commit(ctx context.Context) error {
	start := time.Now()
	if s.closed {
		return errClosed
	}
	if s.readErr != nil {
		return fmt.Errorf("state: commit %s: a read during the batch failed: %w", s.where(""), s.readErr)
	}
	next := s.version + 1
	snapshot := next%int64(s.opts.SnapshotInterval) == 0
	if s.stale[next] && !snapshot {
		name := fileName(kindSnapshot, next)
		if err := s.loc.Remove(ctx, s.path(name)); err != nil {
			return fmt.Errorf("state: remove stale %s: %w", s.where(name), err)
		}
		delete(s.stale, next)
	}
	keys := s.sortedChanges()
	if err := s.write(ctx, kindDelta, next, int64(len(keys)), s.changeEntries(keys), int(s.changeBytes)+8*len(keys)); err != nil {
		return err
	}
	if snapshot {
		var scanErr error
		err := s.writeSnapshot(ctx, next, s.stateEntries(keys, &scanErr))
		if scanErr != nil {
			err = fmt.Errorf("state: snapshot %s: %w", s.where(fileName(kindSnapshot, next)), scanErr)
		}
		if err != nil {
			return err
		}
		delete(s.stale, next)
	}
	if err := s.b.apply(keys, s.changes); err != nil {
		return fmt.Errorf("state: commit %s version %d: %w", s.where(""), next, err)
	}
	s.version = next
	if snapshot {
		s.snapshots = append(s.snapshots, next)
	}
	s.committed = s.numKeys
	s.lastValid = false
	s.clearChanges()
	s.purge(ctx)
	s.commitTimeMs = time.Since(start).Milliseconds()
	return nil
}

// write encodes and writes one state file.
func (s *store) write(ctx context.Context, kind byte, version, n int64, entries iter.Seq[entry], sizeHint int) error {
	name := fileName(kind, version)
	data, err := encodeFile(kind, version, n, entries, sizeHint)
	if err != nil {
		return err
	}
	if err := s.loc.WriteFile(ctx, s.path(name), data); err != nil {
		return fmt.Errorf("state: write %s: %w", s.where(name), err)
	}
	return nil
}

// writeSnapshot encodes and writes the snapshot of version, one part at a time (see
// snapshotWriter): the memory backend writes it as one file, the Pebble backend in parts of
// about snapshotPartBytes.
func (s *store) writeSnapshot(ctx context.Context, version int64, entries iter.Seq[entry]) error {
	partBytes := 0
	if s.opts.Backend == BackendPebble {
		partBytes = snapshotPartBytes
	}
	w := newSnapshotWriter(version, partBytes, func(part int, data []byte) error {
		name := fileName(kindSnapshot, version)
		if part > 0 {
			name = partFileName(version, part)
		}
		if err := s.loc.WriteFile(ctx, s.path(name), data); err != nil {
			return fmt.Errorf("state: write %s: %w", s.where(name), err)
		}
		return nil
	})
	var err error
	for e := range entries {
		if err = w.add(e); err != nil {
			break
		}
	}
	if err == nil {
		err = w.finish(s.numKeys)
	}
	return err
}

// purge removes the files that no retained version needs: with oldest the oldest retained
// version and from the newest snapshot at or before it, the snapshots before from and the
// deltas up to it. It runs when from moves, so about once every SnapshotInterval commits.
func (s *store) purge(ctx context.Context) {
	oldest := s.version - int64(s.opts.MinVersionsToRetain) + 1
	i, found := slices.BinarySearch(s.snapshots, oldest)
	if !found {
		i--
	}
	if i < 0 || s.snapshots[i] <= s.purgedTo {
		return
	}
	from := s.snapshots[i]
	names, err := s.loc.List(ctx, s.dir)
	if err != nil {
		return
	}
	var failed bool
	for _, name := range names {
		kind, v, ok := parseFileName(name)
		if !ok {
			v, ok = parsePartFileName(name)
			kind = kindSnapshot
		}
		if ok && (kind == kindSnapshot && v < from || kind == kindDelta && v <= from) {
			failed = s.loc.Remove(ctx, s.path(name)) != nil || failed
		}
	}
	if !failed {
		s.purgedTo = from
		s.snapshots = slices.Delete(s.snapshots, 0, i)
	}
}

func (s *store) clearChanges() {
	s.changes = map[string]pending{}
	s.changeBytes, s.numUpdated, s.numRemoved = 0, 0, 0
	s.readErr = nil
}

// Rollback implements Store.
func (s *store) Rollback() {
	s.clearChanges()
	s.numKeys = s.committed
}

// Metrics implements Store.
func (s *store) Metrics() Metrics {
	m := Metrics{
		NumKeys:         s.numKeys,
		NumUpdated:      s.numUpdated,
		NumRemoved:      s.numRemoved,
		MemoryUsedBytes: s.changeBytes + int64(len(s.changes))*pendingEntryOverhead,
		CommitTimeMs:    s.commitTimeMs,
	}
	if !s.closed {
		m.MemoryUsedBytes += s.b.memoryBytes()
	}
	return m
}

// Close implements Store.
func (s *store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.clearChanges()
	s.numKeys = s.committed
	return s.b.close()
}
