// Package archtest keeps the project's import rules (STYLE.md, "One-way imports"): pipeline
// sits on top and only programs import it; only the AWS-backed packages import the AWS SDK;
// only expr imports CEL; arrowbatch and optspec are leaves.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sluicedev/sluice"

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	rules := []struct {
		what    string
		imports func(string) bool // the forbidden import
		allowed []string          // package path prefixes (below the module) that may
	}{
		{"pipeline", func(p string) bool { return p == module+"/pipeline" },
			[]string{"examples/", "bench", "cmd/", "internal/testprog/"}},
		{"the AWS SDK", func(p string) bool { return strings.HasPrefix(p, "github.com/aws/") },
			[]string{"sources/kinesis", "sinks/kinesis", "sinks/file", "checkpoint/s3", "internal/localaws", "internal/awshttp", "internal/awsauth", "internal/demo", "bench", "examples/", "cmd/"}},
		{"CEL", func(p string) bool {
			return strings.HasPrefix(p, "cel.dev/") || strings.HasPrefix(p, "github.com/google/cel-go")
		},
			[]string{"expr"}},
		{"another sluice package from a leaf", func(p string) bool { return strings.HasPrefix(p, module+"/") },
			nil}, // checked below only for the leaves
	}
	leaves := []string{"arrowbatch", "optspec"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := strings.TrimPrefix(fields[0], module+"/"), fields[1:]
		for _, r := range rules {
			isLeafRule := r.allowed == nil
			if isLeafRule && !contains(leaves, pkg) {
				continue
			}
			if !isLeafRule && hasPrefix(pkg, r.allowed) {
				continue
			}
			for _, imp := range imports {
				if r.imports(imp) && imp != fields[0] {
					t.Errorf("%s imports %s: only %v may import %s", pkg, imp, r.allowed, r.what)
				}
			}
		}
	}
}

func hasPrefix(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(pkg, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
