package expr_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
)

var (
	propertyCases = flag.Int("expr.cases", 3000, "random expressions TestColumnWiseMatchesRowWise tries")
	propertySeed  = flag.Uint64("expr.seed", 0, "seed of TestColumnWiseMatchesRowWise (0: the time; 1 with -short)")
)

// propSchema has a column of every type the kernels handle, all nullable.
var propSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "j", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "t", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "tn", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
}, nil)

var (
	propInts    = []int64{0, 1, -1, 2, 3, 7, -7, 100, math.MaxInt64, math.MinInt64, math.MaxInt32, 1 << 40}
	propFloats  = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 2.5, 1e300, -1e300, math.Inf(1), math.Inf(-1), math.NaN(), 7, 9.2233720368547758e18}
	propStrings = []string{"", "a", "abc", "b", "ABC", "héllo", "hello world", "Hello  World ", " ", "a b", "aXa", "Ünï Code", "\xff\xfe", "a\xffb", "日本", "ab", "ba"}
	propTimes   = []time.Time{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC),
	}
)

// propBatch builds n random rows of propSchema; about a fifth of the values are null.
func propBatch(mem memory.Allocator, r *rand.Rand, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, propSchema)
	defer b.Release()
	null := func() bool { return r.IntN(5) == 0 }
	pick := func(xs []int64) int64 {
		if r.IntN(4) == 0 {
			return r.Int64N(2000) - 1000
		}
		return xs[r.IntN(len(xs))]
	}
	for range n {
		for col := range propSchema.NumFields() {
			fb := b.Field(col)
			if null() {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(pick(propInts))
			case *array.Int32Builder:
				fb.Append(int32(r.IntN(200) - 100))
			case *array.Uint64Builder:
				fb.Append(uint64(r.IntN(20)) + []uint64{0, 1 << 63, math.MaxUint64 - 20}[r.IntN(3)])
			case *array.Float64Builder:
				fb.Append(propFloats[r.IntN(len(propFloats))])
			case *array.Float32Builder:
				fb.Append(float32(propFloats[r.IntN(len(propFloats))]))
			case *array.StringBuilder:
				fb.Append(propStrings[r.IntN(len(propStrings))])
			case *array.BinaryBuilder:
				fb.Append([]byte(propStrings[r.IntN(len(propStrings))]))
			case *array.BooleanBuilder:
				fb.Append(r.IntN(2) == 0)
			case *array.TimestampBuilder:
				tm := propTimes[r.IntN(len(propTimes))]
				if fb.Type().(*arrow.TimestampType).Unit == arrow.Nanosecond {
					fb.Append(arrow.Timestamp(tm.UnixNano() + r.Int64N(3) - 1))
				} else {
					fb.Append(arrow.Timestamp(tm.UnixMicro()))
				}
			case *array.StructBuilder:
				fb.Append(true)
				xb, yb := fb.FieldBuilder(0).(*array.Int64Builder), fb.FieldBuilder(1).(*array.StringBuilder)
				if null() {
					xb.AppendNull()
				} else {
					xb.Append(pick(propInts))
				}
				if null() {
					yb.AppendNull()
				} else {
					yb.Append(propStrings[r.IntN(len(propStrings))])
				}
			case *array.ListBuilder:
				fb.Append(true)
				vb := fb.ValueBuilder().(*array.Int64Builder)
				for range r.IntN(4) {
					vb.Append(pick(propInts))
				}
			}
		}
	}
	return b.NewRecordBatch()
}

// gen generates random well-typed expressions over propSchema.
type gen struct{ r *rand.Rand }

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) expr(depth int) string {
	switch g.r.IntN(7) {
	case 0:
		return g.intE(depth)
	case 1:
		return g.doubleE(depth)
	case 2:
		return g.strE(depth)
	case 3:
		return g.uintE(depth)
	case 4:
		return g.bytesE(depth)
	case 5:
		return g.listE(depth)
	}
	return g.boolE(depth)
}

// listE generates a list(string): the strings extension's split with literal arguments.
func (g *gen) listE(depth int) string {
	d := max(depth-1, 0)
	sep := g.pick(`" "`, `""`, `"a"`, `"b"`, `"ab"`, `"l"`, `"日"`, `"!"`, `"\xff"`)
	if g.r.IntN(3) == 0 {
		return g.strE(d) + ".split(" + sep + ", " + g.pick("-2", "-1", "0", "1", "2", "3") + ")"
	}
	return g.strE(d) + ".split(" + sep + ")"
}

func (g *gen) boolE(depth int) string {
	if depth <= 0 {
		return g.pick("t", "true", "false", "has(st.x)", "isNull(i)", "isNotNull(s)", "st.x > 0")
	}
	d := depth - 1
	cmp := g.pick("==", "!=", "<", "<=", ">", ">=")
	switch g.r.IntN(16) {
	case 0:
		if cmp == "==" || cmp == "!=" { // equality needs one type; ordering mixes numbers
			return g.intE(d) + " " + cmp + " " + g.intE(d)
		}
		return g.numE(d) + " " + cmp + " " + g.numE(d)
	case 1:
		return g.strE(d) + " " + cmp + " " + g.strE(d)
	case 2:
		return g.boolE(d) + " && " + g.boolE(d)
	case 3:
		return g.boolE(d) + " || " + g.boolE(d)
	case 4:
		return "!(" + g.boolE(d) + ")"
	case 5:
		return g.strE(d) + "." + g.pick("contains", "startsWith", "endsWith") + "(" + g.strE(d) + ")"
	case 6:
		return g.bytesE(d) + "." + g.pick("contains", "startsWith", "endsWith") + "(" + g.bytesE(d) + ")"
	case 7:
		return g.pick("s", "st.y", "string(b)") + ".matches(" + g.pick(`"^a"`, `"b$"`, `"l+"`, `"[日本]"`, `("(" + "")`) + ")"
	case 8:
		return g.intE(d) + " in [0, 1, 7, -7, 100]"
	case 9:
		return g.strE(d) + ` in ["", "a", "abc", "\xff"]`
	case 10:
		return g.pick("isNull", "isNotNull") + "(" + g.expr(d) + ")"
	case 11:
		return "(" + g.boolE(d) + " ? " + g.boolE(d) + " : " + g.boolE(d) + ")"
	case 12:
		return g.pick("ts", "tn") + " " + cmp + " " + g.pick("ts", "tn", `timestamp("2024-01-01T00:00:00Z")`, `timestamp("1970-01-01T00:00:00.000000001Z")`, `timestamp("1969-12-31T23:59:59.999999Z")`)
	case 13:
		return "l.exists(x, x > " + g.intE(0) + ")"
	case 14:
		return g.uintE(d) + " " + cmp + " " + g.uintE(d)
	}
	return g.bytesE(d) + " " + cmp + " " + g.bytesE(d)
}

func (g *gen) numE(depth int) string {
	switch g.r.IntN(3) {
	case 0:
		return g.intE(depth)
	case 1:
		return g.uintE(depth)
	}
	return g.doubleE(depth)
}

func (g *gen) intE(depth int) string {
	if depth <= 0 {
		return g.pick("i", "j", "st.x", "0", "1", "-1", "7", "9223372036854775807", "-9223372036854775808", "size(s)", "size(b)", "size(l)")
	}
	d := depth - 1
	switch g.r.IntN(9) {
	case 0, 1:
		return "(" + g.intE(d) + " " + g.pick("+", "-", "*", "/", "%") + " " + g.intE(d) + ")"
	case 2:
		return "-(" + g.intE(d) + ")"
	case 3:
		return "int(" + g.pick(g.doubleE(d), g.uintE(d)) + ")"
	case 4:
		return "(" + g.boolE(d) + " ? " + g.intE(d) + " : " + g.intE(d) + ")"
	case 5:
		return "size(" + g.pick(g.strE(d), g.bytesE(d)) + ")"
	case 6:
		return "twice(" + g.intE(d) + ")"
	case 7:
		return "size(" + g.listE(d) + ")"
	}
	return g.intE(0)
}

func (g *gen) uintE(depth int) string {
	if depth <= 0 {
		return g.pick("u", "0u", "1u", "18446744073709551615u")
	}
	d := depth - 1
	switch g.r.IntN(4) {
	case 0, 1:
		return "(" + g.uintE(d) + " " + g.pick("+", "-", "*", "/", "%") + " " + g.uintE(d) + ")"
	case 2:
		return "uint(" + g.pick(g.intE(d), g.doubleE(d)) + ")"
	}
	return g.uintE(0)
}

func (g *gen) doubleE(depth int) string {
	if depth <= 0 {
		return g.pick("d", "f", "0.0", "1.5", "-2.0", "1e308")
	}
	d := depth - 1
	switch g.r.IntN(5) {
	case 0, 1:
		return "(" + g.doubleE(d) + " " + g.pick("+", "-", "*", "/") + " " + g.doubleE(d) + ")"
	case 2:
		return "-(" + g.doubleE(d) + ")"
	case 3:
		return "double(" + g.pick(g.intE(d), g.uintE(d)) + ")"
	}
	return "(" + g.boolE(d) + " ? " + g.doubleE(d) + " : " + g.doubleE(d) + ")"
}

func (g *gen) strE(depth int) string {
	if depth <= 0 {
		return g.pick("s", "st.y", `""`, `"a"`, `"héllo"`, "string(b)")
	}
	d := depth - 1
	switch g.r.IntN(7) {
	case 0:
		return "(" + g.strE(d) + " + " + g.strE(d) + ")"
	case 1:
		return "string(" + g.bytesE(d) + ")"
	case 2:
		return "shout(" + g.strE(d) + ")"
	case 3:
		return "(" + g.boolE(d) + " ? " + g.strE(d) + " : " + g.strE(d) + ")"
	case 4:
		return "string(" + g.pick(g.intE(d), g.uintE(d)) + ")"
	case 5:
		return g.strE(d) + "." + g.pick("lowerAscii", "upperAscii") + "()"
	}
	return g.strE(0)
}

func (g *gen) bytesE(depth int) string {
	if depth <= 0 {
		return g.pick("b", `b""`, `b"a"`, `b"\xff"`, "bytes(s)")
	}
	d := depth - 1
	switch g.r.IntN(3) {
	case 0:
		return "(" + g.bytesE(d) + " + " + g.bytesE(d) + ")"
	case 1:
		return "bytes(" + g.strE(d) + ")"
	}
	return g.bytesE(0)
}

func propEnv() *expr.Env {
	return expr.NewEnv(
		expr.Func("twice", func(x int64) (int64, error) {
			if x > 1<<62 || x < -(1<<62) {
				return 0, fmt.Errorf("%d is too large", x)
			}
			return 2 * x, nil
		}),
		expr.Func("shout", func(s string) string {
			if s == "ab" {
				panic("no ab")
			}
			return strings.ToUpper(s) + "!"
		}),
	)
}

// render returns a result as text, row by row, with its failures.
func render(arr arrow.Array, errs []*expr.EvalError) []string {
	out := make([]string, arr.Len())
	for i := range out {
		out[i] = arrowbatch.FormatValue(arr, i)
		if l, ok := arr.(array.ListLike); ok && l.IsValid(i) {
			// Quote the elements: FormatValue shows [""] and [] alike.
			start, end := l.ValueOffsets(i)
			elems := make([]string, 0, end-start)
			for j := start; j < end; j++ {
				elems = append(elems, fmt.Sprintf("%q", arrowbatch.FormatValue(l.ListValues(), int(j))))
			}
			out[i] = "[" + strings.Join(elems, " ") + "]"
		}
	}
	for _, e := range errs {
		out[e.Row] = fmt.Sprintf("ERROR %d:%d %v", e.Line, e.Column, e.Err)
	}
	return out
}

// TestColumnWiseMatchesRowWise is the property test of the column-wise evaluator: for random
// expressions and random data with nulls, NaNs, overflows and invalid UTF-8, it must give the
// same values, nulls and errors as cel-go evaluating row by row.
func TestColumnWiseMatchesRowWise(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	seed := *propertySeed
	switch {
	case seed != 0:
	case testing.Short():
		seed = 1
	default:
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -expr.seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 4))
	env := propEnv()
	full := propBatch(mem, r, 96)
	defer full.Release()
	sliced := full.NewSlice(5, 90) // non-zero offsets
	defer sliced.Release()
	g := &gen{r: r}
	vectorised := 0
	for n := range *propertyCases {
		src := g.expr(1 + r.IntN(4))
		p, err := env.Compile(propSchema, src)
		if err != nil {
			t.Fatalf("case %d: generated %q does not compile: %v", n, src, err)
		}
		if len(p.RowWise()) == 0 {
			vectorised++
		}
		for _, batch := range []arrow.RecordBatch{full, sliced} {
			got, gotErrs, err := p.Eval(ctx, batch)
			if err != nil {
				t.Fatalf("%q: Eval: %v", src, err)
			}
			want, wantErrs, err := p.EvalRowWise(ctx, batch)
			if err != nil {
				t.Fatalf("%q: EvalRowWise: %v", src, err)
			}
			if !arrow.TypeEqual(got.DataType(), want.DataType()) {
				t.Errorf("%q: type %s, row-wise %s", src, got.DataType(), want.DataType())
			}
			g, w := render(got, gotErrs), render(want, wantErrs)
			for i := range w {
				if g[i] != w[i] {
					t.Errorf("%q (plan %s), row %d of %d: column-wise %q, row-wise %q", src, p.Plan(), i, batch.NumRows(), g[i], w[i])
					break
				}
			}
			got.Release()
			want.Release()
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d expressions, %d of them entirely column-wise", *propertyCases, vectorised)
}
