package operators_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/operators"
)

// TestRowWise runs the operators that evaluate expressions with Options.RowWise (cel-go row by
// row) and without (column-wise): the output is the same, failures included.
func TestRowWise(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	for _, tt := range []struct {
		name string
		op   func(operators.Options) operators.Operator
	}{
		{"Filter", func(o operators.Options) operators.Operator {
			return operators.Filter(`n > 0 || line.startsWith("j")`, o)
		}},
		{"Select", func(o operators.Options) operators.Operator {
			return operators.Select([]string{"pk", `size(line) AS len`, `string(data) AS body`}, o)
		}},
		{"WithColumn with a failing row", func(o operators.Options) operators.Operator {
			o.OnError = operators.ErrorColumn("err")
			return operators.WithColumn("q", `10 / n`, o)
		}},
		{"Explode", func(o operators.Options) operators.Operator { return operators.Explode("word", `line.split(" ")`, o) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			col, err := run(t, mem, tt.op(operators.Options{}), in)
			if err != nil {
				t.Fatal(err)
			}
			row, err := run(t, mem, tt.op(operators.Options{RowWise: true}), in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(col, row, cmp.AllowUnexported(col)); diff != "" {
				t.Errorf("row-wise output differs (-column-wise +row-wise):\n%s", diff)
			}
		})
	}
}
