package expr

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/parser"
	"github.com/sluicedev/sluice/arrowbatch"
)

// Overload IDs of the functions sluice adds to CEL, and of the standard ones it changes.
const (
	overloadIsNull         = "sluice_is_null"
	overloadIsNotNull      = "sluice_is_not_null"
	overloadBytesContains  = "sluice_contains_bytes"
	overloadBytesStarts    = "sluice_starts_with_bytes"
	overloadBytesEnds      = "sluice_ends_with_bytes"
	overloadBytesMatches   = "sluice_matches_bytes"
	overloadBytesToString  = "bytes_to_string" // cel-go's, redefined: keeps invalid UTF-8
	overloadStringToBytes  = "string_to_bytes" // cel-go's
	overloadStringContains = "contains_string" // cel-go's
	overloadStringStarts   = "starts_with_string"
	overloadStringEnds     = "ends_with_string"
	overloadStringMatches  = "matches_string"
)

// baseOptions returns the options of every environment: the standard library, the strings
// extension (split, lowerAscii, replace, trim...), heterogeneous numeric ordering (x > 1 for
// a double x), and sluice's additions.
func baseOptions() []cel.EnvOption {
	opts := []cel.EnvOption{
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.EagerlyValidateDeclarations(true),
		cel.EnableMacroCallTracking(), // to print macros (exists, has...) in plans
		cel.Macros(castMacro),
		// Constant regular expressions, timestamps and durations are checked at compile time,
		// so a bad one fails Start instead of every row.
		cel.ASTValidators(literalValidator{}),
		cel.Function("isNull",
			cel.Overload(overloadIsNull, []*cel.Type{cel.TypeParamType("A")}, cel.BoolType,
				cel.OverloadIsNonStrict(), cel.UnaryBinding(func(v ref.Val) ref.Val { return nullTest(v, true) }))),
		cel.Function("isNotNull",
			cel.Overload(overloadIsNotNull, []*cel.Type{cel.TypeParamType("A")}, cel.BoolType,
				cel.OverloadIsNonStrict(), cel.UnaryBinding(func(v ref.Val) ref.Val { return nullTest(v, false) }))),
		cel.Function("contains",
			cel.MemberOverload(overloadBytesContains, []*cel.Type{cel.BytesType, cel.BytesType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Bool(bytes.Contains(a.(types.Bytes), b.(types.Bytes)))
				}))),
		cel.Function("startsWith",
			cel.MemberOverload(overloadBytesStarts, []*cel.Type{cel.BytesType, cel.BytesType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Bool(bytes.HasPrefix(a.(types.Bytes), b.(types.Bytes)))
				}))),
		cel.Function("endsWith",
			cel.MemberOverload(overloadBytesEnds, []*cel.Type{cel.BytesType, cel.BytesType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Bool(bytes.HasSuffix(a.(types.Bytes), b.(types.Bytes)))
				}))),
		// matches has one implementation for every overload in cel-go (a singleton), which
		// rejects bytes; the bytes overload is declared on matches and implemented by a hidden
		// function with the same overload ID, which cel-go's planner finds by that ID.
		cel.Function("matches",
			cel.MemberOverload(overloadBytesMatches, []*cel.Type{cel.BytesType, cel.StringType}, cel.BoolType)),
		cel.Function("@sluice_matches_bytes",
			cel.MemberOverload(overloadBytesMatches, []*cel.Type{cel.BytesType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ok, err := regexp.Match(string(b.(types.String)), a.(types.Bytes))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Bool(ok)
				}))),
		// string(bytes) keeps the bytes as they are, as Spark's cast does; see the package
		// comment on UTF-8.
		cel.Function("string",
			cel.Overload(overloadBytesToString, []*cel.Type{cel.BytesType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(v.(types.Bytes)) }))),
	}
	return append(opts, castOptions()...)
}

// builtins maps the name of every function and macro of the base environment (CEL's standard
// library, the strings extension and sluice's additions, operators included) to "function" or
// "macro". It is computed from the environment itself, so it follows the library.
var builtins = sync.OnceValue(func() map[string]string {
	names := map[string]string{}
	env, err := cel.NewEnv(baseOptions()...)
	if err != nil {
		return names // every environment fails with this error anyway
	}
	for _, m := range env.Macros() {
		names[m.Function()] = "macro"
	}
	for name := range env.Functions() {
		names[name] = "function"
	}
	return names
})

// builtinError returns the error of a registered function named like a built-in one, or nil.
func builtinError(name string) error {
	kind, ok := builtins()[name]
	if !ok {
		return nil
	}
	return fmt.Errorf("expr: function %q is a built-in %s; register the UDF under another name", name, kind)
}

// nullTest implements isNull (want true) and isNotNull. Errors propagate.
func nullTest(v ref.Val, want bool) ref.Val {
	if types.IsError(v) {
		return v
	}
	return types.Bool(isNullVal(v) == want)
}

// castTargets maps the type names of Spark's cast to the functions x.cast(name) calls, the
// innermost first: CEL's conversion, then sluice's range check or rounding for the narrower
// Spark types. "string" is sluice's own conversion, which writes doubles and timestamps as
// Spark does.
var castTargets = map[string][]string{
	"string": {castStringFunc}, "binary": {"bytes"}, "bytes": {"bytes"},
	"bigint": {"int"}, "long": {"int"},
	"int": {"int", castInt32Func}, "integer": {"int", castInt32Func},
	"smallint": {"int", castInt16Func}, "short": {"int", castInt16Func},
	"tinyint": {"int", castInt8Func}, "byte": {"int", castInt8Func},
	"double": {"double"}, "float": {"double", castFloatFunc}, "real": {"double", castFloatFunc},
	"boolean": {"bool"}, "bool": {"bool"},
	"timestamp": {"timestamp"},
}

// The hidden functions cast calls (a name starting with @ cannot be written in an expression).
const (
	castStringFunc = "@sluice_cast_string"
	castInt32Func  = "@sluice_cast_int32"
	castInt16Func  = "@sluice_cast_int16"
	castInt8Func   = "@sluice_cast_int8"
	castFloatFunc  = "@sluice_cast_float"
)

// Overload IDs of cast's string conversion; the planner runs the ones of ints, uints, strings
// and bytes column-wise as the matching CEL conversions.
const (
	overloadCastBytesString  = "sluice_cast_bytes_to_string"
	overloadCastStringString = "sluice_cast_string_to_string"
	overloadCastIntString    = "sluice_cast_int64_to_string"
	overloadCastUintString   = "sluice_cast_uint64_to_string"
	overloadCastDoubleString = "sluice_cast_double_to_string"
	overloadCastBoolString   = "sluice_cast_bool_to_string"
	overloadCastTimeString   = "sluice_cast_timestamp_to_string"
	overloadCastDurString    = "sluice_cast_duration_to_string"
)

// castOptions declares the hidden functions of cast.
func castOptions() []cel.EnvOption {
	str := func(id string, t *cel.Type, f func(ref.Val) string) cel.FunctionOpt {
		return cel.Overload(id, []*cel.Type{t}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(f(v)) }))
	}
	narrow := func(name, spark string, lo, hi int64) cel.EnvOption {
		return cel.Function(name, cel.Overload(name[1:], []*cel.Type{cel.IntType}, cel.IntType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				if i := int64(v.(types.Int)); i < lo || i > hi {
					return types.NewErr("cast: %d is out of the range of %s (%d to %d)", i, spark, lo, hi)
				}
				return v
			})))
	}
	return []cel.EnvOption{
		cel.Function(castStringFunc,
			str(overloadCastBytesString, cel.BytesType, func(v ref.Val) string { return string(v.(types.Bytes)) }),
			str(overloadCastStringString, cel.StringType, func(v ref.Val) string { return string(v.(types.String)) }),
			str(overloadCastIntString, cel.IntType, func(v ref.Val) string { return strconv.FormatInt(int64(v.(types.Int)), 10) }),
			str(overloadCastUintString, cel.UintType, func(v ref.Val) string { return strconv.FormatUint(uint64(v.(types.Uint)), 10) }),
			str(overloadCastDoubleString, cel.DoubleType, func(v ref.Val) string { return arrowbatch.FormatFloat(float64(v.(types.Double)), 64) }),
			str(overloadCastBoolString, cel.BoolType, func(v ref.Val) string { return strconv.FormatBool(bool(v.(types.Bool))) }),
			str(overloadCastTimeString, cel.TimestampType, func(v ref.Val) string {
				return v.(types.Timestamp).UTC().Format("2006-01-02 15:04:05.999999")
			}),
			str(overloadCastDurString, cel.DurationType, func(v ref.Val) string {
				return string(v.ConvertToType(types.StringType).(types.String))
			})),
		narrow(castInt32Func, "int", math.MinInt32, math.MaxInt32),
		narrow(castInt16Func, "smallint", math.MinInt16, math.MaxInt16),
		narrow(castInt8Func, "tinyint", math.MinInt8, math.MaxInt8),
		cel.Function(castFloatFunc, cel.Overload(castFloatFunc[1:], []*cel.Type{cel.DoubleType}, cel.DoubleType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				return types.Double(float32(v.(types.Double))) // a float's precision; beyond its range, ±Infinity
			}))),
	}
}

// castMacro rewrites x.cast("type") (Spark's Column.cast) into conversion functions:
// x.cast("bigint") is int(x), x.cast("string") keeps bytes as they are and writes doubles and
// timestamps as Spark does.
var castMacro = cel.ReceiverMacro("cast", 1, func(eh parser.ExprHelper, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	arg := args[0]
	if arg.Kind() != ast.LiteralKind {
		return nil, eh.NewError(arg.ID(), `cast takes a type name literal, e.g. cast("string")`)
	}
	name, ok := arg.AsLiteral().(types.String)
	if !ok {
		return nil, eh.NewError(arg.ID(), `cast takes a type name literal, e.g. cast("string")`)
	}
	fns, ok := castTargets[strings.ToLower(string(name))]
	if !ok {
		return nil, eh.NewError(arg.ID(), "cast: unknown type "+string(name)+" (want string, binary, bigint, int, smallint, tinyint, double, float, boolean or timestamp, or the aliases long, integer, short, byte, real, bool, bytes; dates and decimals need operators.Cast)")
	}
	call := target
	for _, fn := range fns {
		call = eh.NewCall(fn, call)
	}
	return call, nil
}, cel.MacroDocs(`x.cast("string") converts x like Spark's cast: string(x)`))

// literalValidator checks the constant arguments of matches, timestamp and duration when the
// expression is compiled, so that a bad one fails Start (with the reason) instead of every row.
type literalValidator struct{}

// Name implements cel.ASTValidator.
func (literalValidator) Name() string { return "sluice.literals" }

// Validate implements cel.ASTValidator.
func (literalValidator) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	checks := []struct {
		fn    string
		arg   int
		check func(string) error
	}{
		{"matches", 1, func(s string) error { _, err := regexp.Compile(s); return err }},
		{"timestamp", 0, func(s string) error { _, err := time.Parse(time.RFC3339, s); return err }},
		{"duration", 0, func(s string) error { _, err := time.ParseDuration(s); return err }},
	}
	root := ast.NavigateAST(a)
	for _, c := range checks {
		for _, call := range ast.MatchDescendants(root, ast.FunctionMatcher(c.fn)) {
			args := call.AsCall().Args()
			if call.AsCall().IsMemberFunction() {
				args = append([]ast.Expr{call.AsCall().Target()}, args...)
			}
			if len(args) <= c.arg || args[c.arg].Kind() != ast.LiteralKind {
				continue
			}
			lit, ok := args[c.arg].AsLiteral().(types.String)
			if !ok {
				continue
			}
			if err := c.check(string(lit)); err != nil {
				iss.ReportErrorAtID(args[c.arg].ID(), "invalid %s argument %q: %v", c.fn, string(lit), err)
			}
		}
	}
}
