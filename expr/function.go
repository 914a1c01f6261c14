package expr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Function is a Go function that expressions call by name. Build one with Func and make it
// available with Env.Register (or Register, for the Default environment).
type Function struct {
	name      string
	overloads []*overload
	err       error
}

// Func declares the function name, with one overload per impl. Each impl is a Go func whose
// parameters are of the types string, []byte, bool, int, int64, uint64, float64, time.Time or
// time.Duration (CEL's string, bytes, bool, int, uint, double, timestamp and duration), and
// whose results are one value of those types or of []string, optionally followed by an error:
//
//	expr.Func("normalize", func(s string) string { return strings.ToLower(strings.TrimSpace(s)) })
//	expr.Func("clamp",
//		func(x, lo, hi int64) int64 { return min(max(x, lo), hi) },
//		func(x, lo, hi float64) float64 { return min(max(x, lo), hi) })
//
// Functions are strict: a null argument makes the result null without calling the function.
// A returned error, or a panic, fails the row (see the package comment). Functions may be
// called concurrently and, in column-wise evaluation, for rows that the expression would not
// have evaluated (the other branch of a ?: operator), so they should be pure. String and
// []byte arguments borrow the batch's memory: copy them (strings.Clone) to keep them.
//
// Func reports no error: a bad name or signature is reported when an expression is compiled
// in an environment holding the function, that is when the query starts. A name is bad when
// it is not an identifier or when a built-in function or macro has it (contains, size, split,
// timestamp, has, isNull...; see Env.Register): a Func cannot shadow or overload them.
func Func(name string, impls ...any) *Function {
	f := &Function{name: name}
	var errs []error
	if !funcName.MatchString(name) {
		errs = append(errs, fmt.Errorf("expr: function name %q is not an identifier", name))
	}
	if len(impls) == 0 {
		errs = append(errs, fmt.Errorf("expr: function %s has no implementation", name))
	}
	ids := map[string]int{}
	for i, impl := range impls {
		o, err := newOverload(name, impl)
		if err != nil {
			errs = append(errs, fmt.Errorf("expr: function %s, implementation %d: %w", name, i+1, err))
			continue
		}
		if j, dup := ids[o.id]; dup {
			errs = append(errs, fmt.Errorf("expr: function %s: implementations %d and %d take the same parameter types", name, j, i+1))
			continue
		}
		ids[o.id] = i + 1
		f.overloads = append(f.overloads, o)
	}
	f.err = errors.Join(errs...)
	return f
}

// Name returns the function's name.
func (f *Function) Name() string { return f.name }

// Signatures returns the function's overloads in CEL notation, e.g. "normalize(string) -> string".
func (f *Function) Signatures() []string {
	out := make([]string, len(f.overloads))
	for i, o := range f.overloads {
		args := make([]string, len(o.args))
		for j, a := range o.args {
			args[j] = a.cel.String()
		}
		out[i] = fmt.Sprintf("%s(%s) -> %s", f.name, strings.Join(args, ", "), o.result.cel)
	}
	return out
}

var funcName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// options returns the CEL declaration of the function.
func (f *Function) options() cel.EnvOption {
	var opts []cel.FunctionOpt
	for _, o := range f.overloads {
		args := make([]*types.Type, len(o.args))
		for i, a := range o.args {
			args[i] = a.cel
		}
		var binding cel.OverloadOpt
		switch len(args) {
		case 1:
			binding = cel.UnaryBinding(func(v ref.Val) ref.Val { return o.invoke([]ref.Val{v}) })
		case 2:
			binding = cel.BinaryBinding(func(a, b ref.Val) ref.Val { return o.invoke([]ref.Val{a, b}) })
		default:
			binding = cel.FunctionBinding(func(args ...ref.Val) ref.Val { return o.invoke(args) })
		}
		opts = append(opts, cel.Overload(o.id, args, o.result.cel, binding))
	}
	return cel.Function(f.name, opts...)
}

// overload is one Go implementation of a Function.
type overload struct {
	fn      string // the function's name
	id      string // the CEL overload ID
	args    []goType
	result  goType
	withErr bool
	impl    reflect.Value
	fast    func(args []ref.Val) ref.Val // a direct call for common signatures, or nil
}

// goType is a Go type a function may take or return, with its CEL type and conversions.
type goType struct {
	rt    reflect.Type
	cel   *types.Type
	toGo  func(ref.Val) reflect.Value
	toCEL func(reflect.Value) ref.Val
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationRT   = reflect.TypeFor[time.Duration]()
	errorType    = reflect.TypeFor[error]()
	stringsSlice = reflect.TypeFor[[]string]()
)

func goTypeOf(rt reflect.Type, result bool) (goType, bool) {
	switch {
	case rt == timeType:
		return goType{rt: rt, cel: types.TimestampType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(v.(types.Timestamp).Time) },
			toCEL: func(v reflect.Value) ref.Val { return types.Timestamp{Time: v.Interface().(time.Time)} }}, true
	case rt == durationRT:
		return goType{rt: rt, cel: types.DurationType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(v.(types.Duration).Duration) },
			toCEL: func(v reflect.Value) ref.Val { return types.Duration{Duration: time.Duration(v.Int())} }}, true
	case rt == stringsSlice && result:
		return goType{rt: rt, cel: types.NewListType(types.StringType),
			toCEL: func(v reflect.Value) ref.Val {
				return types.NewStringList(types.DefaultTypeAdapter, v.Interface().([]string))
			}}, true
	}
	switch rt.Kind() {
	case reflect.String:
		return goType{rt: rt, cel: types.StringType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(string(v.(types.String))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.String(v.String()) }}, true
	case reflect.Slice:
		if rt.Elem().Kind() != reflect.Uint8 {
			return goType{}, false
		}
		return goType{rt: rt, cel: types.BytesType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf([]byte(v.(types.Bytes))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.Bytes(v.Bytes()) }}, true
	case reflect.Bool:
		return goType{rt: rt, cel: types.BoolType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(bool(v.(types.Bool))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.Bool(v.Bool()) }}, true
	case reflect.Int, reflect.Int64:
		return goType{rt: rt, cel: types.IntType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(int64(v.(types.Int))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.Int(v.Int()) }}, true
	case reflect.Int8, reflect.Int16, reflect.Int32:
		if !result {
			return goType{}, false // a CEL int may not fit
		}
		return goType{rt: rt, cel: types.IntType, toCEL: func(v reflect.Value) ref.Val { return types.Int(v.Int()) }}, true
	case reflect.Uint64, reflect.Uint:
		return goType{rt: rt, cel: types.UintType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(uint64(v.(types.Uint))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.Uint(v.Uint()) }}, true
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		if !result {
			return goType{}, false
		}
		return goType{rt: rt, cel: types.UintType, toCEL: func(v reflect.Value) ref.Val { return types.Uint(v.Uint()) }}, true
	case reflect.Float64:
		return goType{rt: rt, cel: types.DoubleType,
			toGo:  func(v ref.Val) reflect.Value { return reflect.ValueOf(float64(v.(types.Double))).Convert(rt) },
			toCEL: func(v reflect.Value) ref.Val { return types.Double(v.Float()) }}, true
	case reflect.Float32:
		if !result {
			return goType{}, false
		}
		return goType{rt: rt, cel: types.DoubleType, toCEL: func(v reflect.Value) ref.Val { return types.Double(v.Float()) }}, true
	}
	return goType{}, false
}

func newOverload(name string, impl any) (*overload, error) {
	v := reflect.ValueOf(impl)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%T is not a func", impl)
	}
	t := v.Type()
	if t.IsVariadic() {
		return nil, fmt.Errorf("%s: variadic functions are not supported", t)
	}
	o := &overload{fn: name, impl: v}
	idParts := []string{"sluice", name}
	for i := range t.NumIn() {
		gt, ok := goTypeOf(t.In(i), false)
		if !ok {
			return nil, fmt.Errorf("%s: parameter %d has type %s; want string, []byte, bool, int, int64, uint64, float64, time.Time or time.Duration", t, i+1, t.In(i))
		}
		o.args = append(o.args, gt)
		idParts = append(idParts, gt.cel.String())
	}
	switch {
	case t.NumOut() == 2 && t.Out(1) == errorType:
		o.withErr = true
	case t.NumOut() == 1:
	default:
		return nil, fmt.Errorf("%s: want one result, optionally followed by an error", t)
	}
	gt, ok := goTypeOf(t.Out(0), true)
	if !ok {
		return nil, fmt.Errorf("%s: result type %s is not supported", t, t.Out(0))
	}
	o.result = gt
	o.id = strings.NewReplacer("(", "_", ")", "", ", ", "_", ".", "_").Replace(strings.Join(idParts, "_"))
	o.fast = fastCall(impl)
	return o, nil
}

// invoke calls the Go function with CEL arguments. cel-go has already returned the null or
// the error of a null or failed argument, so every argument is a value of the declared type.
func (o *overload) invoke(args []ref.Val) (res ref.Val) {
	defer func() {
		if r := recover(); r != nil {
			res = types.NewErr("%s panicked: %v", o.fn, r)
		}
	}()
	for _, a := range args {
		if isNullVal(a) {
			// A null struct or the null literal: strictness treats them as null too.
			return nullVal
		}
	}
	if o.fast != nil {
		return o.fast(args)
	}
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = o.args[i].toGo(a)
	}
	out := o.impl.Call(in)
	if o.withErr && !out[1].IsNil() {
		return types.WrapErr(fmt.Errorf("%s: %w", o.fn, out[1].Interface().(error)))
	}
	return o.result.toCEL(out[0])
}

// fastCall returns a call without reflection for the most common signatures.
func fastCall(impl any) func(args []ref.Val) ref.Val {
	switch f := impl.(type) {
	case func(string) string:
		return func(a []ref.Val) ref.Val { return types.String(f(string(a[0].(types.String)))) }
	case func(string) bool:
		return func(a []ref.Val) ref.Val { return types.Bool(f(string(a[0].(types.String)))) }
	case func(string) int64:
		return func(a []ref.Val) ref.Val { return types.Int(f(string(a[0].(types.String)))) }
	case func(string) int:
		return func(a []ref.Val) ref.Val { return types.Int(f(string(a[0].(types.String)))) }
	case func(string) float64:
		return func(a []ref.Val) ref.Val { return types.Double(f(string(a[0].(types.String)))) }
	case func(string) []string:
		return func(a []ref.Val) ref.Val {
			return types.NewStringList(types.DefaultTypeAdapter, f(string(a[0].(types.String))))
		}
	case func(string, string) string:
		return func(a []ref.Val) ref.Val {
			return types.String(f(string(a[0].(types.String)), string(a[1].(types.String))))
		}
	case func(string, string) bool:
		return func(a []ref.Val) ref.Val {
			return types.Bool(f(string(a[0].(types.String)), string(a[1].(types.String))))
		}
	case func([]byte) string:
		return func(a []ref.Val) ref.Val { return types.String(f([]byte(a[0].(types.Bytes)))) }
	case func([]byte) bool:
		return func(a []ref.Val) ref.Val { return types.Bool(f([]byte(a[0].(types.Bytes)))) }
	case func([]byte) []byte:
		return func(a []ref.Val) ref.Val { return types.Bytes(f([]byte(a[0].(types.Bytes)))) }
	case func(int64) int64:
		return func(a []ref.Val) ref.Val { return types.Int(f(int64(a[0].(types.Int)))) }
	case func(int64, int64) int64:
		return func(a []ref.Val) ref.Val { return types.Int(f(int64(a[0].(types.Int)), int64(a[1].(types.Int)))) }
	case func(float64) float64:
		return func(a []ref.Val) ref.Val { return types.Double(f(float64(a[0].(types.Double)))) }
	case func(float64, float64) float64:
		return func(a []ref.Val) ref.Val {
			return types.Double(f(float64(a[0].(types.Double)), float64(a[1].(types.Double))))
		}
	}
	return nil
}
