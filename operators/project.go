package operators

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
)

// projItem is one output column of a projection.
type projItem struct {
	field arrow.Field
	col   int            // the input column passed through or cast, or -1
	prog  *expr.Program  // the expression computing the column, when col < 0
	cast  arrow.DataType // the type column col is cast to, or nil
}

type projPlan struct {
	items []projItem
	base  *arrow.Schema // the items' schema
	out   *arrow.Schema // base, with the error column when the policy adds one
}

// projection computes its output columns from each input batch: columns passed through
// without copying, expressions, casts.
type projection struct {
	desc  *describer
	opts  Options
	items func(in *arrow.Schema) ([]projItem, error)
	fails bool // whether the projection can fail a row (and so applies the policy)
	plans perSchema[*projPlan]
}

func newProjection(name string, srcs []string, o Options, fails bool, items func(in *arrow.Schema) ([]projItem, error)) *projection {
	p := &projection{desc: &describer{base: name, env: o.env(), srcs: srcs}, opts: o, items: items, fails: fails}
	p.plans.build = p.plan
	return p
}

func (p *projection) Name() string { return p.desc.String() }

func (p *projection) plan(in *arrow.Schema) (*projPlan, error) {
	items, err := p.items(in)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(items))
	seen := map[string]bool{}
	for i, it := range items {
		if seen[it.field.Name] {
			return nil, fmt.Errorf("the output has two columns named %q", it.field.Name)
		}
		seen[it.field.Name] = true
		fields[i] = it.field
	}
	md := in.Metadata()
	pl := &projPlan{items: items, base: arrow.NewSchema(fields, &md)}
	pl.out = pl.base
	if p.fails {
		if err := sideOutputClash(in, p.opts.OnError); err != nil {
			return nil, err
		}
		if pl.out, err = withErrorSchema(pl.base, p.opts.OnError); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func (p *projection) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		_, err := withErrorSchema(arrow.NewSchema(nil, nil), p.opts.OnError)
		return nil, err
	}
	pl, err := p.plans.get(in)
	if err != nil {
		return nil, err
	}
	return pl.out, nil
}

func (p *projection) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	pl, err := p.plans.get(in.Schema())
	if err != nil {
		return err
	}
	cols := make([]arrow.Array, 0, len(pl.items))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	var fs []failure
	for _, it := range pl.items {
		switch {
		case it.prog != nil:
			arr, errs, err := p.opts.eval(ctx, it.prog, in)
			if err != nil {
				return err
			}
			cols = append(cols, arr)
			fs = append(fs, evalFailures(errs)...)
		case it.cast != nil:
			arr, failed, err := castColumn(ctx, in.Column(it.col), it.cast)
			if err != nil {
				return err
			}
			cols = append(cols, arr)
			for _, r := range failed {
				fs = append(fs, failure{row: r.Row, err: castFailure(it.field.Name, it.cast, r.Err)})
			}
		default:
			c := in.Column(it.col)
			c.Retain()
			cols = append(cols, c)
		}
	}
	out := array.NewRecordBatch(pl.base, cols, in.NumRows())
	defer out.Release()
	if !p.fails {
		return emit(out)
	}
	sortFailures(fs)
	return finish(ctx, p.opts.OnError, in, out, pl.out, fs, nil, emit)
}

// passThrough returns the item passing column i of in unchanged.
func passThrough(in *arrow.Schema, i int) projItem {
	return projItem{field: in.Field(i), col: i}
}

// exprItem compiles src into the column name.
func exprItem(env *expr.Env, in *arrow.Schema, name, src string) (projItem, error) {
	prog, err := env.Compile(in, src)
	if err != nil {
		return projItem{}, err
	}
	return projItem{field: arrow.Field{Name: name, Type: prog.Type(), Nullable: true}, col: -1, prog: prog}, nil
}

// columnIndex returns the index of the column named name, or an error listing the columns.
func columnIndex(in *arrow.Schema, name string) (int, error) {
	idx := in.FieldIndices(name)
	switch len(idx) {
	case 0:
		return 0, fmt.Errorf("no column %q (columns: %s)", name, strings.Join(arrowbatch.FieldNames(in), ", "))
	case 1:
		return idx[0], nil
	}
	return 0, fmt.Errorf("%d columns are named %q", len(idx), name)
}

// alias matches "expression AS name" (AS is a reserved word in CEL, so it cannot end an
// expression otherwise); a name in backticks may hold any character, a backtick doubled.
var alias = regexp.MustCompile("(?is)^(.*?\\S)\\s+as\\s+([A-Za-z_][A-Za-z0-9_]*|`(?:[^`]|``)+`)\\s*$")

// badAlias matches an item ending in AS and something that is not a valid alias.
var badAlias = regexp.MustCompile("(?is)^(.*\\S)\\s+as\\s+(\\S.*?)\\s*$")

// missingAlias matches an item that ends in AS.
var missingAlias = regexp.MustCompile("(?is)^(.*\\S)\\s+as$")

// quotedName matches a whole item that is a name in backticks.
var quotedName = regexp.MustCompile("^`(?:[^`]|``)+`$")

// unquote returns the name in backticks s, or s.
func unquote(s string) string {
	if quotedName.MatchString(s) {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

// parseSelectItem splits "expr AS name" into the expression and the name; without AS, the name
// is the item itself (without its backticks when it is a quoted name).
func parseSelectItem(item string) (src, name string) {
	item = strings.TrimSpace(item)
	if m := alias.FindStringSubmatch(item); m != nil {
		return strings.TrimSpace(m[1]), unquote(m[2])
	}
	return item, unquote(item)
}

// fieldPath matches a struct field path: a column and its fields, "geo.place.name".
var fieldPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)

// exprName is the name of an expression's column without AS: as in Spark, a struct field path
// is named by its last field ("geo.lat" is "lat"); another expression by its text.
func exprName(item, name string) string {
	if name == strings.TrimSpace(item) && fieldPath.MatchString(name) {
		return name[strings.LastIndexByte(name, '.')+1:]
	}
	return name
}

// Select computes a new set of columns (Spark's select): each item is "*" (every input
// column), a column name (as is, or in backticks: "`my col`", a backtick doubled inside), or a
// CEL expression, each optionally followed by "AS name", where name is an identifier (letters,
// digits and _, not starting with a digit) or any name in backticks ("AS `1st col`"). Columns
// are passed through without copying; an expression's column is named by its AS, else, as in
// Spark, a struct field path by its last field ("geo.lat" is "lat"), another expression by its
// text. Unlike Spark, two output columns may not have the same name ("*" and a column of the
// input, or the same column twice): give one an AS. An expression that fails for a row follows
// o.OnError.
func Select(items []string, o Options) Operator {
	srcs := make([]string, len(items))
	for i, item := range items {
		srcs[i], _ = parseSelectItem(item)
	}
	return newProjection("Select("+strings.Join(items, ", ")+")", srcs, o, true, func(in *arrow.Schema) ([]projItem, error) {
		if len(items) == 0 {
			return nil, errors.New("no columns selected")
		}
		var out []projItem
		var errs []error
		for _, item := range items {
			src, name := parseSelectItem(item)
			if src == "*" {
				for i := range in.NumFields() {
					out = append(out, passThrough(in, i))
				}
				continue
			}
			if idx := in.FieldIndices(src); len(idx) == 1 {
				it := passThrough(in, idx[0])
				it.field.Name = name
				out = append(out, it)
				continue
			}
			if col := unquote(src); col != src {
				idx, err := columnIndex(in, col)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				it := passThrough(in, idx)
				it.field.Name = name
				out = append(out, it)
				continue
			}
			it, err := exprItem(o.env(), in, exprName(item, name), src)
			if err != nil {
				if m := badAlias.FindStringSubmatch(strings.TrimSpace(item)); m != nil && src == strings.TrimSpace(item) && selectable(o.env(), in, strings.TrimSpace(m[1])) {
					err = fmt.Errorf("%q: invalid alias %q: an alias is a name of letters, digits and _ not starting with a digit, or any name in backticks (AS `%s`)", item, m[2], strings.ReplaceAll(m[2], "`", "``"))
				} else if m := missingAlias.FindStringSubmatch(strings.TrimSpace(item)); m != nil && selectable(o.env(), in, strings.TrimSpace(m[1])) {
					err = fmt.Errorf("%q: AS is not followed by a name: write %q", item, strings.TrimSpace(m[1])+" AS name")
				}
				errs = append(errs, err)
				continue
			}
			out = append(out, it)
		}
		return out, errors.Join(errs...)
	})
}

// selectable reports whether src is a column of in, in backticks or not, or an expression that
// compiles.
func selectable(env *expr.Env, in *arrow.Schema, src string) bool {
	if len(in.FieldIndices(unquote(src))) == 1 {
		return true
	}
	_, err := env.Compile(in, src)
	return err == nil
}

// WithColumn adds the column name computed by the CEL expression src, or replaces the column
// of that name in place (Spark's withColumn). A row for which src fails follows o.OnError.
func WithColumn(name, src string, o Options) Operator {
	return newProjection("WithColumn("+name+" = "+src+")", []string{src}, o, true, func(in *arrow.Schema) ([]projItem, error) {
		if name == "" {
			return nil, errors.New("the column name is empty")
		}
		it, err := exprItem(o.env(), in, name, src)
		if err != nil {
			return nil, err
		}
		return replaceOrAppend(in, it), nil
	})
}

// replaceOrAppend returns the input's columns with it in place of the column of its name, or
// at the end.
func replaceOrAppend(in *arrow.Schema, it projItem) []projItem {
	out := make([]projItem, 0, in.NumFields()+1)
	replaced := false
	for i := range in.NumFields() {
		if in.Field(i).Name == it.field.Name && !replaced {
			out = append(out, it)
			replaced = true
			continue
		}
		out = append(out, passThrough(in, i))
	}
	if !replaced {
		out = append(out, it)
	}
	return out
}

// Drop removes the named columns; names that are not columns are ignored, as in Spark.
func Drop(cols ...string) Operator {
	return newProjection("Drop("+strings.Join(cols, ", ")+")", nil, Options{}, false, func(in *arrow.Schema) ([]projItem, error) {
		drop := map[string]bool{}
		for _, c := range cols {
			drop[c] = true
		}
		var out []projItem
		for i := range in.NumFields() {
			if !drop[in.Field(i).Name] {
				out = append(out, passThrough(in, i))
			}
		}
		return out, nil
	})
}

// WithColumnRenamed renames the column existing to newName; it does nothing when there is no
// such column, as in Spark.
func WithColumnRenamed(existing, newName string) Operator {
	return newProjection("WithColumnRenamed("+existing+" -> "+newName+")", nil, Options{}, false, func(in *arrow.Schema) ([]projItem, error) {
		if newName == "" {
			return nil, errors.New("the new name is empty")
		}
		out := make([]projItem, in.NumFields())
		for i := range in.NumFields() {
			out[i] = passThrough(in, i)
			if out[i].field.Name == existing {
				out[i].field.Name = newName
			}
		}
		return out, nil
	})
}

// Cast converts the column col to the type named typ, with Spark's type names: "string",
// "binary", "boolean", "tinyint", "smallint", "int", "bigint", "float", "double",
// "timestamp", "date" (and their aliases "byte", "short", "integer", "long", "real"). The
// conversions follow Spark 4 with ANSI mode on: a value that does not convert (malformed, or
// out of the target's range) fails its row, following o.OnError, instead of becoming null.
//
//   - Same type: the column unchanged. Binary to string and back reinterprets the column without
//     copying its bytes (invalid UTF-8 is kept, as Spark does). Anything to string: the value as
//     the console prints it (timestamps as "2006-01-02 15:04:05.999999" in UTC).
//   - Strings to numbers, boolean, timestamp and date are first trimmed of ASCII white space and
//     control characters. To an integer type: base 10 only, with an optional sign ("010" is 10;
//     "0x10", "1_000" and "1.5" fail). To float or double: decimal or scientific notation, or
//     NaN, Infinity or inf in any case with an optional sign (no hexadecimal, no underscores);
//     a value beyond the type's range is ±Infinity, as in Java. To boolean: t, true, y, yes, 1
//     and f, false, n, no, 0, in any case.
//   - String to timestamp: yyyy, yyyy-[m]m, yyyy-[m]m-[d]d, or the last followed by ' ' or 'T'
//     and [h]h:[m]m[:[s]s[.fraction]] and an optional zone, after an optional space: Z, UTC,
//     GMT, UT, +hh:mm, +hhmm, +hh (or -), or UTC/GMT/UT followed by such an offset. Without a
//     zone the time is UTC; a fraction finer than microseconds is truncated.
//   - String to date: yyyy, yyyy-[m]m, yyyy-[m]m-[d]d, or the last followed by ' ' or 'T' and
//     anything (ignored).
//   - Numbers to integer types: floating-point values are truncated toward zero (1.9 is 1, -1.9
//     is -1); NaN, infinities and values out of the target's range fail.
//   - Integers to timestamp: seconds since the epoch; float and double: seconds with a
//     fraction (truncated to microseconds; NaN and infinities fail). Date to timestamp: its
//     midnight UTC. A timestamp of another unit or time zone is converted to microseconds in UTC
//     (nanoseconds rounded down). Overflow fails.
//   - Timestamp (of any unit) to integer types: whole seconds since the epoch, rounded down and
//     range-checked; to float or double: seconds with the fraction; to date: its day in UTC.
//   - Other conversions (boolean to and from numbers, date to string...) are arrow-go's compute
//     casts, whose failures (an overflow) also fail the row.
//
// A row's error names the column, the type and the value: `cast n to int: "0x10" is not a
// base-10 integer`.
//
// Inside expressions, x.cast("type") is CEL's conversion (int(x), double(x), timestamp(x)...;
// see package expr) with Spark's range checks for int, smallint and tinyint, float's precision
// for float, and Spark's text for doubles and timestamps cast to string ("1.0E10",
// "2024-03-01 12:00:00"). It agrees with this operator on valid values in CEL's own formats
// (integers as seconds to timestamp, base-10 strings to int, RFC 3339 strings to timestamp)
// but is stricter on strings (no trimming, no Spark timestamp or boolean forms) and has no
// date or decimal types, which CEL lacks. Use this operator (or Stream.Cast) for Spark's
// string conversions.
func Cast(col, typ string, o Options) Operator {
	return newProjection("Cast("+col+" AS "+typ+")", nil, o, true, func(in *arrow.Schema) ([]projItem, error) {
		to, err := SparkType(typ)
		if err != nil {
			return nil, err
		}
		idx, err := columnIndex(in, col)
		if err != nil {
			return nil, err
		}
		from := in.Field(idx).Type
		if !sparkCastable(from, to) && !compute.CanCast(from, to) && !reinterpretable(from, to) {
			return nil, fmt.Errorf("cannot cast %s from %s to %s", col, from, to)
		}
		out := make([]projItem, in.NumFields())
		for i := range in.NumFields() {
			out[i] = passThrough(in, i)
		}
		out[idx] = projItem{field: arrow.Field{Name: col, Type: to, Nullable: true, Metadata: in.Field(idx).Metadata}, col: idx, cast: to}
		return out, nil
	})
}

// SparkType returns the Arrow type of a Spark SQL type name.
func SparkType(name string) (arrow.DataType, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "string":
		return arrow.BinaryTypes.String, nil
	case "binary":
		return arrow.BinaryTypes.Binary, nil
	case "boolean", "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case "tinyint", "byte":
		return arrow.PrimitiveTypes.Int8, nil
	case "smallint", "short":
		return arrow.PrimitiveTypes.Int16, nil
	case "int", "integer":
		return arrow.PrimitiveTypes.Int32, nil
	case "bigint", "long":
		return arrow.PrimitiveTypes.Int64, nil
	case "float", "real":
		return arrow.PrimitiveTypes.Float32, nil
	case "double":
		return arrow.PrimitiveTypes.Float64, nil
	case "timestamp":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case "date":
		return arrow.FixedWidthTypes.Date32, nil
	}
	return nil, fmt.Errorf("unknown type %q (want string, binary, boolean, tinyint, smallint, int, bigint, float, double, timestamp or date)", name)
}

// reinterpretable reports whether an array of type from is one of type to with the same
// buffers: binary and string of the same offset width.
func reinterpretable(from, to arrow.DataType) bool {
	switch from.ID() {
	case arrow.BINARY, arrow.STRING:
		return to.ID() == arrow.BINARY || to.ID() == arrow.STRING
	case arrow.LARGE_BINARY, arrow.LARGE_STRING:
		return to.ID() == arrow.LARGE_BINARY || to.ID() == arrow.LARGE_STRING
	}
	return false
}

// castColumn converts arr to type to. It returns the rows that did not convert (null in the
// result).
func castColumn(ctx context.Context, arr arrow.Array, to arrow.DataType) (arrow.Array, []arrowbatch.RowError, error) {
	if arrow.TypeEqual(arr.DataType(), to) {
		arr.Retain()
		return arr, nil, nil
	}
	if reinterpretable(arr.DataType(), to) {
		d := arr.Data()
		nd := array.NewData(to, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		return array.MakeFromData(nd), nil, nil
	}
	if to.ID() == arrow.STRING && arr.DataType().ID() != arrow.LARGE_STRING && arr.DataType().ID() != arrow.LARGE_BINARY {
		// arrow-go v18.8's numeric-to-string casts leak a buffer; format the values instead.
		b := array.NewStringBuilder(Allocator(ctx))
		defer b.Release()
		b.Reserve(arr.Len())
		for i := range arr.Len() {
			if arr.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(arrowbatch.FormatValue(arr, i))
		}
		return b.NewArray(), nil, nil
	}
	if out, failed, ok := sparkCast(Allocator(ctx), arr, to); ok {
		return out, failed, nil
	}
	cctx := compute.WithAllocator(ctx, Allocator(ctx))
	opts := compute.SafeCastOptions(to)
	out, err := compute.CastArray(cctx, arr, opts)
	if err == nil {
		return out, nil, nil
	}
	// Find the rows that do not convert, one by one; this is the slow path of bad data only.
	mem := Allocator(ctx)
	parts := make([]arrow.Array, 0, arr.Len())
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var failed []arrowbatch.RowError
	for i := range arr.Len() {
		one := array.NewSlice(arr, int64(i), int64(i+1))
		c, err := compute.CastArray(cctx, one, opts)
		one.Release()
		if err != nil {
			failed = append(failed, arrowbatch.RowError{Row: i, Err: &castError{to: sparkName(to), msg: arrowbatch.FormatValue(arr, i) + " cannot be converted"}})
			c = array.MakeArrayOfNull(mem, to, 1)
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return array.MakeArrayOfNull(mem, to, 0), nil, nil
	}
	all, err := array.Concatenate(parts, mem)
	if err != nil {
		return nil, nil, err
	}
	return all, failed, nil
}
