// Package registry is the name → factory map behind sources.Registry and sinks.Registry.
package registry

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownFormat is wrapped by Lookup's error for a name nobody registered.
var ErrUnknownFormat = errors.New("unknown format")

// Registry maps case-insensitive format names to factories of type F. The zero value is
// empty and ready to use; it is safe for concurrent use.
type Registry[F any] struct {
	mu        sync.RWMutex
	factories map[string]F
}

// Register adds a factory under name. It panics if the name is taken, as database/sql's
// Register does: two packages claiming one name is a program error.
func (r *Registry[F]) Register(name string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.factories == nil {
		r.factories = map[string]F{}
	}
	key := strings.ToLower(name)
	if _, dup := r.factories[key]; dup {
		panic("sluice: Register called twice for format " + name)
	}
	r.factories[key] = f
}

// Formats lists the registered names, sorted.
func (r *Registry[F]) Formats() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.factories))
	for k := range r.factories {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the factory for name. kind ("source", "sink") and imports (format → the
// package that registers it) shape the error for an unknown name.
func (r *Registry[F]) Lookup(kind, name string, imports map[string]string) (F, error) {
	r.mu.RLock()
	f, ok := r.factories[strings.ToLower(name)]
	r.mu.RUnlock()
	if ok {
		return f, nil
	}
	msg := fmt.Sprintf("%s format %q: %v (registered: %s)", kind, name, ErrUnknownFormat, strings.Join(r.Formats(), ", "))
	if imp, ok := imports[strings.ToLower(name)]; ok {
		msg += fmt.Sprintf("; add the import _ %q", imp)
	}
	var zero F
	return zero, &formatError{msg: msg}
}

type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Unwrap() error { return ErrUnknownFormat }
