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
	// LocalDir is the Pebble backend's working directory, owned by one Store at a time (Pebble
	// locks it). Open rebuilds the database in it from the checkpoint, discarding what an
	// earlier run left there; Close leaves it in place. Empty means a new temporary
	// directory, removed by Close. The memory backend ignores it.
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
