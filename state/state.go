// Package state keeps the state of stateful streaming operators (aggregations,
// deduplication) across micro-batches, versioned together with the query's checkpoint.
//
// # Versions
//
// Version v of an operator's state is its state after batches 0..v-1. The coordinator opens a
// Store at the version of the batch it is about to run (version N for batch N), the operator
// reads and changes it during the batch, and the coordinator calls Commit, which makes version
// N+1 durable in the checkpoint, before it writes the batch's commits/N. A batch replayed after
// a crash therefore starts from version N again: a version written for a batch that never
// committed is overwritten by the replay.
//
// # Files
//
// Each committed version is a delta file (the keys put and deleted by that batch); every
// SnapshotInterval versions a snapshot file holds the whole state, so loading a version reads
// one snapshot and at most SnapshotInterval deltas, however long the query has run. Old files
// are removed once no retained version needs them.
//
//	<dir>/<v>.delta      the changes that make version v from version v-1
//	<dir>/<v>.snapshot   the whole state at version v, every SnapshotInterval versions
//
//	<dir>/<v>.snapshot.<i> part i of a snapshot written in parts (Pebble backend)
//
// Both are a compact binary format (see format.go): a header with a magic number, a format
// version, the file's kind and state version, then the entries in key order with uvarint
// lengths (deletes as tombstones), and a CRC-32C of the whole, so a damaged or truncated file
// is reported (as a *checkpoint.CorruptError naming it) rather than loaded.
//
// # Backends
//
// The "memory" backend keeps the state in a Go map and writes each snapshot as one file. The
// "pebble" backend keeps it in an embedded Pebble database on local disk (see
// Options.LocalDir), for state larger than memory. Both read every file either writes, so a
// checkpoint moves between backends, and a small state's files are byte for byte the same.
//
// # Memory of the Pebble backend
//
// A checkpoint.Store reads and writes whole files, so the Pebble backend bounds its memory by
// the size of the files instead of streaming one file: it scans the database in key order
// and writes a snapshot in parts of about 4 MiB, <v>.snapshot.1 to <v>.snapshot.n, then
// <v>.snapshot as a manifest listing the parts with their checksums (written last, so the
// snapshot exists only once complete); a snapshot that fits in one part is an ordinary
// snapshot file. Loading reads one file at a time into Pebble batches of 4 MiB. Apart from
// Pebble's own bounded memtables and caches (see Metrics.MemoryUsedBytes), what remains in
// memory is proportional to one batch, not to the state: the batch's uncommitted changes,
// its delta file when committed, and that delta when loaded. A snapshot written as one file
// (by the memory backend, or by a build without parts) is read whole, as it was written.
package state

import (
	"context"
)

// Store is one stateful operator's keyed state at one version, with the uncommitted changes of
// the batch in progress. Keys and values are opaque bytes. A Store is not safe for concurrent
// use: callers serialise access.
//
// Lifecycle: Open at the version of the batch about to run; Get, Put, Delete and Range during
// the batch; then Commit (the store is at the next version and ready for the next batch) or
// Rollback (the store is back at its version); Close at the end.
type Store interface {
	// Version returns the committed version the store's changes apply to.
	Version() int64
	// Get returns the value of key, including the uncommitted changes. The returned slice is
	// valid until the next Put, Delete, Commit or Rollback; callers copy it to keep it and
	// never modify it. When the backend fails to read (a disk error), Get reports the key as
	// missing and the next Commit returns the error, so a batch computed from a failed read
	// never commits.
	Get(key []byte) (value []byte, ok bool)
	// Put sets key to value; the store copies both.
	Put(key, value []byte)
	// Delete removes key; removing a missing key is not an error.
	Delete(key []byte)
	// Range calls fn for every entry, including the uncommitted changes, in no particular
	// order, until fn returns false. key and value are valid during the call only: fn copies
	// what it keeps and modifies neither. fn must not change the store; collect keys and change
	// them after Range returns. The error is the backend's (a disk error).
	Range(fn func(key, value []byte) bool) error
	// Commit makes the changes since the last Commit (or Open) durable as version Version()+1
	// and advances Version. When it fails, the store stays at its version with its changes
	// (Rollback discards them); files it may have written for the next version belong to a
	// batch that never committed and are overwritten by the next Commit.
	Commit(ctx context.Context) error
	// Rollback discards the changes since the last Commit (or Open).
	Rollback()
	// Metrics describes the store now.
	Metrics() Metrics
	// Close releases the store's resources (not its checkpoint files).
	Close() error
}

// Metrics describes a Store.
type Metrics struct {
	// NumKeys is the number of keys in the state, including uncommitted changes.
	NumKeys int64
	// NumUpdated and NumRemoved count the keys put and deleted since the last Commit: the
	// puts and the deletes the next Commit writes (a key put and then deleted in the same
	// batch counts once, as what it ends as; deleting a missing key counts nothing).
	NumUpdated int64
	NumRemoved int64
	// MemoryUsedBytes estimates the memory the state holds. Both backends count the
	// uncommitted changes (key and value bytes plus a measured per-entry overhead of their
	// map). The memory backend adds the committed entries the same way; the Pebble backend
	// adds what Pebble's metrics say it holds: its memtables (the mutable one and those
	// waiting to be flushed, at their allocated size), its block cache and its file cache's
	// open table readers, all bounded whatever the state's size on disk. Not counted for
	// Pebble: the buffers of reads and iterators in progress and, during Open and Commit, the
	// one state file (a delta or a snapshot part) being read or written.
	MemoryUsedBytes int64
	// CommitTimeMs is how long the last Commit took.
	CommitTimeMs int64
}
