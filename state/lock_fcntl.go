//go:build linux || darwin

package state

import (
	"os"
	"syscall"
)

// lockedByOther reports whether another process holds a lock on the file at path, as Pebble
// takes on its LOCK file (fcntl). The sweep checks it besides the process id, which another
// PID namespace sharing the directory could reuse.
func lockedByOther(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return true // in doubt, keep the directory
	}
	return lk.Type != syscall.F_UNLCK
}
