//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

type fileLock struct {
	f    *os.File
	path string
}

// Held implements LockHolder: the lock file at the path must still be the one locked.
func (l *fileLock) Held() error {
	at, err := os.Stat(l.path)
	if err == nil {
		var mine os.FileInfo
		if mine, err = l.f.Stat(); err == nil && os.SameFile(at, mine) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s was removed or replaced while this query held it (was the checkpoint deleted?)", ErrLockLost, l.path)
}

func (l *fileLock) Close() error {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}

func lockFile(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (held by %s)", ErrLocked, path, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("checkpoint: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" on "+host+"\n"), 0)
	return &fileLock{f: f, path: path}, nil
}
