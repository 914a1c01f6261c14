//go:build !unix

package fakekinesis

import "time"

// ProcessCPU returns 0 outside Unix, where Getrusage is missing: benchmarks then report no
// records per CPU-second.
func ProcessCPU() time.Duration { return 0 }
