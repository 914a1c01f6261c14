//go:build !unix

package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

type fileLock struct{ path string }

func (l *fileLock) Close() error { return os.Remove(l.path) }

// Held implements LockHolder: the lock file must still exist.
func (l *fileLock) Held() error {
	if _, err := os.Stat(l.path); err != nil {
		return fmt.Errorf("%w: %s was removed while this query held it (was the checkpoint deleted?)", ErrLockLost, l.path)
	}
	return nil
}

// lockFile creates the lock file exclusively. Unlike flock on Unix, a crashed process leaves
// it behind; the error says which file to delete.
func lockFile(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: %s exists (delete it if no query runs)", ErrLocked, path)
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	return &fileLock{path: path}, nil
}
