package expr_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/expr"
)

// Compile an expression against a schema and evaluate it over a batch: one value per row,
// null where a value is null, and the rows that failed.
func ExampleEnv_Compile() {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "partitionKey", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "data", Type: arrow.BinaryTypes.Binary},
	}, nil)
	batch, _, _ := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(
		`[{"partitionKey": "eu-1", "data": "aGVsbG8="}, {"partitionKey": null, "data": ""}, {"partitionKey": "us-2", "data": "aGk="}]`))
	defer batch.Release()

	p, err := expr.Default.Compile(schema, `partitionKey.startsWith("eu") && size(data) > 2`)
	if err != nil {
		fmt.Println(err)
		return
	}
	values, failed, err := p.Eval(context.Background(), batch)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer values.Release()
	fmt.Println(values, len(failed), p.Plan())

	_, err = expr.Default.Compile(schema, "size(dta) > 2")
	fmt.Println(err)
	// Output:
	// [true false false] 0 (partitionKey.startsWith("eu") && (size(data) > 2))
	// expr: "size(dta) > 2": 1 error
	//   1:6: undeclared reference to 'dta' (did you mean 'data'?)
	//    | size(dta) > 2
	//    |      ^
	//   available columns: partitionKey string, data bytes
}

// Call a Go function from expressions.
func ExampleFunc() {
	env := expr.NewEnv(expr.Func("normalize", func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }))
	schema := arrow.NewSchema([]arrow.Field{{Name: "name", Type: arrow.BinaryTypes.String}}, nil)
	batch, _, _ := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(`[{"name": " Ada "}, {"name": "GRACE"}]`))
	defer batch.Release()
	p, _ := env.Compile(schema, `normalize(name) + "@example.com"`)
	values, _, _ := p.Eval(context.Background(), batch)
	defer values.Release()
	fmt.Println(values, p.Functions())
	// Output: ["ada@example.com" "grace@example.com"] [normalize]
}
