package state_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/state"
)

// A stateful operator's state across two batches and a restart: the coordinator opens the
// store at the batch's ID, the operator changes it, the coordinator commits it.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	loc, err := checkpoint.NewDir(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	opts := state.Options{Backend: state.BackendMemory}

	// Batch 0 counts two clicks of "alice".
	st, err := state.Open(ctx, loc, "state/0", 0, opts)
	if err != nil {
		panic(err)
	}
	st.Put([]byte("alice"), []byte{2})
	if err := st.Commit(ctx); err != nil {
		panic(err)
	}
	// Batch 1 fails: its changes are rolled back.
	st.Put([]byte("bob"), []byte{1})
	st.Rollback()
	st.Close()

	// After a restart, batch 1 runs again from version 1.
	st, err = state.Open(ctx, loc, "state/0", 1, opts)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	v, _ := st.Get([]byte("alice"))
	_, hasBob := st.Get([]byte("bob"))
	fmt.Println(st.Version(), v[0], hasBob, st.Metrics().NumKeys)
	// Output: 1 2 false 1
}
