package expr

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/parser"
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
	return []cel.EnvOption{
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.EagerlyValidateDeclarations(true),
		cel.EnableMacroCallTracking(), // to print macros (exists, has...) in plans
		cel.Macros(castMacro),
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

// castTargets maps the type names of Spark's cast to CEL's conversion functions.
var castTargets = map[string]string{
	"string": "string", "binary": "bytes", "bytes": "bytes",
	"int": "int", "integer": "int", "bigint": "int", "long": "int", "smallint": "int", "tinyint": "int",
	"double": "double", "float": "double",
	"boolean": "bool", "bool": "bool",
	"timestamp": "timestamp",
}

// castMacro rewrites x.cast("type") (Spark's Column.cast) into CEL's conversion function:
// x.cast("string") is string(x).
var castMacro = cel.ReceiverMacro("cast", 1, func(eh parser.ExprHelper, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	arg := args[0]
	if arg.Kind() != ast.LiteralKind {
		return nil, eh.NewError(arg.ID(), `cast takes a type name literal, e.g. cast("string")`)
	}
	name, ok := arg.AsLiteral().(types.String)
	if !ok {
		return nil, eh.NewError(arg.ID(), `cast takes a type name literal, e.g. cast("string")`)
	}
	fn, ok := castTargets[strings.ToLower(string(name))]
	if !ok {
		return nil, eh.NewError(arg.ID(), "cast: unknown type "+string(name)+" (want string, binary, int, bigint, double, float, boolean or timestamp)")
	}
	return eh.NewCall(fn, target), nil
}, cel.MacroDocs(`x.cast("string") converts x like Spark's cast: string(x)`))
