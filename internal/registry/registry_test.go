package registry_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/registry"
)

// factory is a stand-in for a source or sink factory; it says which one it is.
type factory func() string

func named(name string) factory { return func() string { return name } }

var imports = map[string]string{
	"kinesis": "github.com/sluicedev/sluice/sources/kinesis",
	"parquet": "github.com/sluicedev/sluice/sinks/file",
}

func TestZeroValue(t *testing.T) {
	var r registry.Registry[factory]
	if got := r.Formats(); len(got) != 0 {
		t.Errorf("Formats of the zero value = %v", got)
	}
	_, err := r.Lookup("source", "rate", nil)
	if !errors.Is(err, registry.ErrUnknownFormat) {
		t.Errorf("Lookup on the zero value = %v; want ErrUnknownFormat", err)
	}
}

func TestRegisterLookup(t *testing.T) {
	var r registry.Registry[factory]
	r.Register("Rate", named("rate"))
	r.Register("rate-micro-batch", named("micro"))
	r.Register("KINESIS", named("kinesis"))

	if diff := cmp.Diff([]string{"kinesis", "rate", "rate-micro-batch"}, r.Formats()); diff != "" {
		t.Errorf("Formats (-want +got), lower-case and sorted:\n%s", diff)
	}
	for _, tt := range []struct{ name, want string }{
		{"rate", "rate"}, {"RATE", "rate"}, {"Rate", "rate"},
		{"Rate-Micro-Batch", "micro"}, {"kinesis", "kinesis"}, {"kInEsIs", "kinesis"},
	} {
		f, err := r.Lookup("source", tt.name, imports)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.name, err)
			continue
		}
		if got := f(); got != tt.want {
			t.Errorf("Lookup(%q) returned the factory of %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	var r registry.Registry[factory]
	r.Register("rate", named("rate"))
	r.Register("console", named("console"))
	tests := []struct {
		kind, name string
		want       string
	}{
		{"source", "Kinesis", `source format "Kinesis": unknown format (registered: console, rate); add the import _ "github.com/sluicedev/sluice/sources/kinesis"`},
		{"sink", "PARQUET", `sink format "PARQUET": unknown format (registered: console, rate); add the import _ "github.com/sluicedev/sluice/sinks/file"`},
		{"source", "kafka", `source format "kafka": unknown format (registered: console, rate)`},
		{"source", "", `source format "": unknown format (registered: console, rate)`},
		{"source", "rate ", `source format "rate ": unknown format (registered: console, rate)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := r.Lookup(tt.kind, tt.name, imports)
			if f != nil {
				t.Error("Lookup returned a factory with its error")
			}
			if !errors.Is(err, registry.ErrUnknownFormat) {
				t.Errorf("error %v does not wrap ErrUnknownFormat", err)
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	for _, second := range []string{"rate", "RATE", "Rate"} {
		t.Run(second, func(t *testing.T) {
			var r registry.Registry[factory]
			r.Register("rate", named("first"))
			defer func() {
				p := recover()
				if want := "sluice: Register called twice for format " + second; p != want {
					t.Errorf("panic = %v; want %q", p, want)
				}
				// The first registration stands.
				f, err := r.Lookup("source", "rate", nil)
				if err != nil || f() != "first" {
					t.Errorf("after the panic Lookup = %v", err)
				}
			}()
			r.Register(second, named("second"))
		})
	}
}

// TestConcurrentUse registers and looks up from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	var r registry.Registry[factory]
	var wg sync.WaitGroup
	const n = 20
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("format-%02d", i)
			r.Register(name, named(name))
			if f, err := r.Lookup("sink", name, nil); err != nil || f() != name {
				t.Errorf("Lookup(%s) = %v", name, err)
			}
			_ = r.Formats()
			_, _ = r.Lookup("sink", "missing", imports)
		})
	}
	wg.Wait()
	if got := len(r.Formats()); got != n {
		t.Errorf("%d formats registered; want %d", got, n)
	}
}

// TestRegistriesAreIndependent checks that a test's own registry does not see another's.
func TestRegistriesAreIndependent(t *testing.T) {
	var a, b registry.Registry[factory]
	a.Register("rate", named("a"))
	b.Register("rate", named("b")) // no panic: another registry
	fa, _ := a.Lookup("source", "rate", nil)
	fb, _ := b.Lookup("source", "rate", nil)
	if fa() != "a" || fb() != "b" {
		t.Errorf("registries share entries: %s, %s", fa(), fb())
	}
}
