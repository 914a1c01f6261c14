// Package testkit holds what the project's tests share: an Arrow allocator that fails the test
// if anything is left allocated, a logger that writes to the test's log on request, and the
// child processes of the crash tests (build, start, SIGKILL).
package testkit

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// CheckedAlloc returns a checked allocator; when the test ends it fails the test if any byte
// allocated from it was not released.
func CheckedAlloc(t testing.TB) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// Logger returns a logger that discards everything, or, with SLUICE_TEST_LOG=1 in the
// environment, writes debug-level lines to the test's log.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Writer returns an io.Writer that logs each write to the test's log, e.g. a child process's
// standard error.
func Writer(t testing.TB) io.Writer { return tWriter{t} }

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
