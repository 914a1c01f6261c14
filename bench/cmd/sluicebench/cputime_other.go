//go:build !linux

package main

import "time"

// threadCPU returns the wall clock in nanoseconds: outside Linux, the stage times of the table
// are wall times, not the thread's CPU time.
func threadCPU() int64 { return time.Now().UnixNano() }

// maxRSSUnit is the unit of Rusage.Maxrss: bytes on macOS (and kilobytes on the BSDs, which
// the harness does not try to tell apart).
const maxRSSUnit = 1
