package state_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/state"
)

func benchStore(b *testing.B, backend string, version int64, loc checkpoint.Store) state.Store {
	b.Helper()
	if loc == nil {
		var err error
		if loc, err = checkpoint.NewDir(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	st, err := state.Open(context.Background(), loc, stateDir, version, state.Options{Backend: backend})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// key returns a 16-byte key, like a grouping key of two int64 columns.
func key(buf []byte, i int) []byte {
	buf = binary.BigEndian.AppendUint64(buf[:0], uint64(i%1000))
	return binary.BigEndian.AppendUint64(buf, uint64(i))
}

// BenchmarkPutGet measures an aggregation's read-modify-write of one key over a committed
// state of 100k keys: a Get, then a Put of an 8-byte value.
func BenchmarkPutGet(b *testing.B) {
	const keys = 100_000
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend, 0, nil)
			var k []byte
			v := make([]byte, 8)
			for i := range keys {
				st.Put(key(k, i), v)
			}
			if err := st.Commit(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				k = key(k, i*7919%keys)
				old, _ := st.Get(k)
				binary.LittleEndian.PutUint64(v, uint64(len(old))+uint64(i))
				st.Put(k, v)
			}
		})
	}
}

// BenchmarkCommit measures committing a batch that changes 1,000 keys of a 100k-key state;
// every tenth commit writes a snapshot.
func BenchmarkCommit(b *testing.B) {
	const keys, changes = 100_000, 1_000
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend, 0, nil)
			var k []byte
			v := make([]byte, 32)
			for i := range keys {
				st.Put(key(k, i), v)
			}
			if err := st.Commit(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for n := range b.N {
				for i := range changes {
					st.Put(key(k, (n*changes+i)*7919%keys), v)
				}
				if err := st.Commit(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures loading a 100k-key state from a snapshot and 9 deltas.
func BenchmarkOpen(b *testing.B) {
	const keys = 100_000
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			loc, err := checkpoint.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			st := benchStore(b, state.BackendMemory, 0, loc)
			var k []byte
			v := make([]byte, 32)
			for c := range 19 {
				for i := range keys / 10 {
					st.Put(key(k, c*keys/10+i), v)
				}
				if err := st.Commit(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				st, err := state.Open(context.Background(), loc, stateDir, 19, state.Options{Backend: backend})
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryPerKey reports, for 1M committed keys of 16 bytes with 8-byte values in the
// memory backend, MemoryUsedBytes per key (est-B/key) next to the heap the store really holds
// per key (heap-B/key), measured with runtime.ReadMemStats.
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 1_000_000
	var est, heap float64
	for range b.N {
		loc, err := checkpoint.NewDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		st, err := state.Open(context.Background(), loc, stateDir, 0, state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var k []byte
		v := make([]byte, 8)
		for i := range keys {
			st.Put(key(k, i), v)
		}
		if err := st.Commit(context.Background()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		m := st.Metrics()
		if m.NumKeys != keys {
			b.Fatalf("NumKeys = %d", m.NumKeys)
		}
		est = float64(m.MemoryUsedBytes) / keys
		heap = float64(after.HeapAlloc-before.HeapAlloc) / keys
		runtime.KeepAlive(st)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(est, "est-B/key")
	b.ReportMetric(heap, "heap-B/key")
}
