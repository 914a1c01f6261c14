package state

import (
	"errors"
	"fmt"
)

// The backends Options.Backend names.
const (
	// BackendMemory keeps the state in a Go map: fastest, for state that fits in memory.
	BackendMemory = "memory"
	// BackendPebble keeps the state in an embedded Pebble database on local disk, for state
	// larger than memory.
	BackendPebble = "pebble"
)

// Defaults of Options.
const (
	// DefaultSnapshotInterval is the default of Options.SnapshotInterval.
	DefaultSnapshotInterval = 10
	// DefaultMinVersionsToRetain is the default of Options.MinVersionsToRetain, Spark's
	// default minBatchesToRetain.
	DefaultMinVersionsToRetain = 100
)

// Options configures the state of a query's stateful operators. The zero value is valid and
// means the defaults.
type Options struct {
	// Backend is where the working state lives: BackendMemory ("memory", the default when
	// empty) or BackendPebble ("pebble"). Both write the same files to the checkpoint.
	Backend string
	// LocalDir is where the Pebble backend keeps its databases. Each Store works in its own
	// subdirectory, named after its checkpoint location and state directory (a hash of both,
	// then a readable part, e.g. "3f2a9c0d4e5b6a71-myquery-state-0"), so every stateful
	// operator of every query in the process can share one LocalDir; only the same operator of
	// the same checkpoint opened twice at once collides (Pebble locks the subdirectory). Open
	// rebuilds the database in the subdirectory from the checkpoint, discarding what an
	// earlier run left there; Close leaves it in place, for the next run to reuse.
	//
	// Empty means a new temporary directory per Store, os.TempDir()/sluice-state-<pid>-<n>,
	// removed by Close. A process killed before Close leaves its directories behind: every
	// Open with an empty LocalDir removes those of processes that no longer run (whose
	// process id is not alive and whose Pebble LOCK no process holds). The memory backend
	// ignores LocalDir.
	LocalDir string
	// SnapshotInterval is how many versions apart whole-state snapshots are written: loading
	// a version reads one snapshot and fewer than SnapshotInterval deltas. Default 10.
	SnapshotInterval int
	// MinVersionsToRetain is how many of the latest versions stay loadable; files only older
	// versions need are removed (Spark's minBatchesToRetain). Default 100.
	MinVersionsToRetain int
}

// Validate reports every problem with the options together.
func (o Options) Validate() error {
	var errs []error
	switch o.Backend {
	case "", BackendMemory, BackendPebble:
	default:
		errs = append(errs, fmt.Errorf("state: unknown backend %q (known: %s, %s)", o.Backend, BackendMemory, BackendPebble))
	}
	if o.SnapshotInterval < 0 {
		errs = append(errs, fmt.Errorf("state: SnapshotInterval %d is negative (0 means the default, %d)", o.SnapshotInterval, DefaultSnapshotInterval))
	}
	if o.MinVersionsToRetain < 0 {
		errs = append(errs, fmt.Errorf("state: MinVersionsToRetain %d is negative (0 means the default, %d)", o.MinVersionsToRetain, DefaultMinVersionsToRetain))
	}
	return errors.Join(errs...)
}

// withDefaults returns o with its zero fields set to the defaults.
func (o Options) withDefaults() Options {
	if o.Backend == "" {
		o.Backend = BackendMemory
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	if o.MinVersionsToRetain == 0 {
		o.MinVersionsToRetain = DefaultMinVersionsToRetain
	}
	return o
}
