//go:build unix

package state

import (
	"errors"
	"syscall"
)

// processAlive reports whether the process pid runs (or may: when in doubt, true).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || !errors.Is(err, syscall.ESRCH)
}
