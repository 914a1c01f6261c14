package state

// SetSnapshotPartBytes sets the size of the Pebble backend's snapshot parts until the
// returned function restores it.
func SetSnapshotPartBytes(n int) (restore func()) {
	old := snapshotPartBytes
	snapshotPartBytes = n
	return func() { snapshotPartBytes = old }
}
