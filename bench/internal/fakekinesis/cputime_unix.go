//go:build unix

package fakekinesis

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user plus system) the process has used so far, for
// benchmarks that report records per CPU-second. The fake server runs in the same process, so
// its share is included, as it is in the time the benchmark's own loop takes.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
