package arrowbatch_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

// TestTakeRows: every column type, with nulls, of a sliced batch, in any order, repeated.
func TestTakeRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	rows := `[
{"b": true, "i8": 1, "i64": 10, "f": 1.5, "ts": "2024-01-01T00:00:00Z", "s": "a", "bin": "YQ==", "ls": "x", "l": [1]},
{"b": false, "i8": 2, "i64": 20, "f": 2.5, "ts": "2024-01-02T00:00:00Z", "s": "bb", "bin": "", "ls": "yy", "l": []},
{"b": null, "i8": null, "i64": null, "f": null, "ts": null, "s": null, "bin": null, "ls": null, "l": null},
{"b": true, "i8": 4, "i64": 40, "f": 4.5, "ts": "2024-01-04T00:00:00Z", "s": "dddd", "bin": "ZGQ=", "ls": "", "l": [4, 5]},
{"b": false, "i8": 5, "i64": 50, "f": 5.5, "ts": "2024-01-05T00:00:00Z", "s": "", "bin": "ZQ==", "ls": "z", "l": [6]}
]`
	full, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer full.Release()
	batch := full.NewSlice(1, 5) // rows 1..4 of full: offsets everywhere
	defer batch.Release()
	render := func(b arrow.RecordBatch) []string {
		var out []string
		for i := range int(b.NumRows()) {
			var cells []string
			for _, c := range b.Columns() {
				cells = append(cells, arrowbatch.FormatValue(c, i))
			}
			out = append(out, strings.Join(cells, " "))
		}
		return out
	}
	all := render(batch)
	for _, tt := range []struct {
		name string
		rows []int
	}{
		{"some", []int{0, 2}},
		{"reversed and repeated", []int{3, 1, 1, 0}},
		{"contiguous", []int{1, 2, 3}},
		{"none", nil},
		{"nulls only", []int{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := arrowbatch.TakeRows(mem, batch, tt.rows)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			var want []string
			for _, r := range tt.rows {
				want = append(want, all[r])
			}
			if diff := cmp.Diff(want, render(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !got.Schema().Equal(schema) {
				t.Errorf("schema %s", got.Schema())
			}
		})
	}
}
