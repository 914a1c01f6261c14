package operators

import (
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
)

// maxCachedSchemas bounds the plans an operator keeps, for sources whose schema changes.
const maxCachedSchemas = 64

// perSchema caches what an operator derives from an input schema (compiled expressions, column
// mappings), so that Process looks it up once per batch: by pointer for the schema of the
// previous batch, else by fingerprint. It is safe for concurrent use.
type perSchema[T any] struct {
	build func(*arrow.Schema) (T, error)
	last  atomic.Pointer[schemaPlan[T]]
	mu    sync.Mutex
	plans map[string]*schemaPlan[T]
}

type schemaPlan[T any] struct {
	schema *arrow.Schema
	val    T
	err    error
}

func (c *perSchema[T]) get(s *arrow.Schema) (T, error) {
	if l := c.last.Load(); l != nil && l.schema == s {
		return l.val, l.err
	}
	key := s.Fingerprint()
	if key == "" {
		key = s.String()
	}
	c.mu.Lock()
	p := c.plans[key]
	if p == nil {
		if c.plans == nil || len(c.plans) >= maxCachedSchemas {
			c.plans = map[string]*schemaPlan[T]{}
		}
		p = &schemaPlan[T]{schema: s}
		p.val, p.err = c.build(s)
		c.plans[key] = p
	}
	c.mu.Unlock()
	c.last.Store(&schemaPlan[T]{schema: s, val: p.val, err: p.err})
	return p.val, p.err
}
