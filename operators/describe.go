package operators

import (
	"strings"
	"sync"

	"github.com/sluicedev/sluice/expr"
)

// describer names an operator for Explain, listing the registered functions its expressions
// call. The list is computed on first use (Explain runs at Start, after functions are
// registered).
type describer struct {
	once sync.Once
	name string
	base string
	env  *expr.Env
	srcs []string
}

func (d *describer) String() string {
	d.once.Do(func() {
		seen := map[string]bool{}
		var fns []string
		for _, s := range d.srcs {
			for _, f := range d.env.FunctionsIn(s) {
				if !seen[f] {
					seen[f] = true
					fns = append(fns, f)
				}
			}
		}
		d.name = strings.Join(strings.Fields(d.base), " ") // one line, whatever the source's layout
		if len(fns) > 0 {
			d.name += " [functions: " + strings.Join(fns, ", ") + "]"
		}
	})
	return d.name
}
