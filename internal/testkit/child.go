package testkit

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childTimeout bounds a child process of a test: one still running after it is killed, so that
// a hung child fails its test instead of hanging the suite.
const childTimeout = 5 * time.Minute

// BuildProgram builds the main package pkg (an import path) into the test's temporary
// directory and returns the binary's path.
func BuildProgram(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), path.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// StartChild starts bin with args and waits until it prints the line "started" on its standard
// output (a program of internal/testprog prints it once its query runs); the test fails if it
// prints anything else first or exits. Its standard error goes to stderr (the test's log if
// nil). The child is killed if it is still running after 5 minutes, and Wait waits at most 10 s
// for its output after it exits.
func StartChild(t testing.TB, stderr io.Writer, bin string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 10 * time.Second
	if stderr == nil {
		stderr = Writer(t) // Wait returns only after the last line is logged
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "started" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s did not start: it printed %q (%v)", filepath.Base(bin), line, err)
	}
	return cmd
}

// KillChild kills a child with SIGKILL and waits for it; it reports whether the signal is
// what ended it (false: it had exited by itself before, with Wait's error).
func KillChild(cmd *exec.Cmd) (killed bool, err error) {
	cmd.Process.Signal(syscall.SIGKILL)
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled(), err
}
