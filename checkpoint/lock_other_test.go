//go:build !unix

package checkpoint_test

import "testing"

const isUnix = false

func startLockHelper(t *testing.T, dir string) (int, func()) {
	t.Fatal("no helper process where flock is not available")
	return 0, nil
}
