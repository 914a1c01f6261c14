//go:build unix

package checkpoint_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

const isUnix = true

// startLockHelper runs this test binary as a helper process (see TestMain) that locks dir,
// and waits until it holds the lock. It returns the helper's pid and a function that kills
// it with SIGKILL and waits for it to die.
func startLockHelper(t *testing.T, dir string) (pid int, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill = func() {
		if killed {
			return
		}
		killed = true
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("kill helper: %v", err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
			t.Errorf("helper ended with %v; want killed by a signal", err)
		}
	}
	t.Cleanup(kill)

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "locked\n" {
			t.Fatalf("helper said %q; want \"locked\"", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the helper did not take the lock within 20s")
	}
	return cmd.Process.Pid, kill
}
