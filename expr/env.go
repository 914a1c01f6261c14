package expr

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"github.com/apache/arrow-go/v18/arrow"
)

// Env holds the functions expressions may call, and caches the programs compiled for each
// (schema, expression) pair. It is safe for concurrent use; a Program it returns is immutable
// and shared by every caller that compiles the same expression against the same schema.
type Env struct {
	mu    sync.Mutex
	funcs []*Function
	gen   *generation
}

// Default is the environment of the pipeline package's transforms (Filter, Select,
// WithColumn...). Register adds functions to it.
var Default = NewEnv()

// NewEnv returns an environment with the standard CEL library, the strings extension, sluice's
// additions (see the package comment) and fns.
func NewEnv(fns ...*Function) *Env {
	e := &Env{}
	e.Register(fns...)
	return e
}

// Register makes fns callable from expressions compiled in e from now on. Functions of the
// same name are one function with several overloads. A bad declaration (see Func), the name
// of a built-in function or macro (any function, operator or macro of CEL's standard library,
// of the strings extension or of sluice's additions, such as contains, size, split, has or
// isNull: a function cannot add overloads to them) or two overloads with the same parameter
// types are reported by every later Compile, that is when a query starts. Programs compiled
// before are kept by those who hold them; e's cache is reset.
func (e *Env) Register(fns ...*Function) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range fns {
		if f != nil {
			e.funcs = append(e.funcs, f)
		}
	}
	e.gen = &generation{funcs: slices.Clone(e.funcs)}
}

// Register adds fns to the Default environment; see Env.Register.
func Register(fns ...*Function) { Default.Register(fns...) }

// Functions returns the functions registered in e, in registration order.
func (e *Env) Functions() []*Function {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.funcs)
}

// FunctionsIn returns the names of e's registered functions that src calls, sorted; it only
// parses src, so it works before any schema is known. It returns nil when src does not parse.
func (e *Env) FunctionsIn(src string) []string {
	g := e.generation()
	base, err := g.baseEnv()
	if err != nil {
		return nil
	}
	parsed, iss := base.Parse(src)
	if iss.Err() != nil {
		return nil
	}
	names := map[string]bool{}
	for _, f := range g.funcs {
		names[f.name] = true
	}
	found := map[string]bool{}
	visit(parsed.NativeRep().Expr(), func(x ast.Expr) {
		if x.Kind() == ast.CallKind && names[x.AsCall().FunctionName()] {
			found[x.AsCall().FunctionName()] = true
		}
	})
	var out []string
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Compile compiles src against schema: it parses and type-checks the expression, with one
// variable per column, and plans its column-wise evaluation. A problem with the expression is
// reported as an *Error listing every issue. Programs are cached per (schema, expression):
// compiling the same pair again returns the same Program.
func (e *Env) Compile(schema *arrow.Schema, src string) (*Program, error) {
	if schema == nil {
		return nil, errors.New("expr: Compile needs a schema")
	}
	return e.generation().program(schema, src)
}

func (e *Env) generation() *generation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen == nil {
		e.gen = &generation{}
	}
	return e.gen
}

// Cache bounds: schemas rarely change, but a source that infers schemas could produce many.
const (
	maxCachedSchemas  = 64
	maxCachedPrograms = 1024
)

// generation is the state of an Env between two Register calls: the base CEL environment of
// its functions, and the caches built on it.
type generation struct {
	funcs []*Function

	baseOnce sync.Once
	base     *cel.Env
	udfs     map[string]*overload // by overload ID
	baseErr  error

	mu       sync.Mutex
	schemas  map[string]*schemaEntry
	programs map[programKey]*programEntry
}

type schemaEntry struct {
	once sync.Once
	env  *schemaEnv
	err  error
}

type programKey struct{ schema, src string }

type programEntry struct {
	once sync.Once
	prog *Program
	err  error
}

func (g *generation) baseEnv() (*cel.Env, error) {
	g.baseOnce.Do(func() {
		opts := baseOptions()
		g.udfs = map[string]*overload{}
		var errs []error
		taken := map[string]bool{} // built-in names already reported
		for _, f := range g.funcs {
			bad := false
			if err := builtinError(f.name); err != nil {
				if !taken[f.name] {
					errs = append(errs, err)
					taken[f.name] = true
				}
				bad = true
			}
			if f.err != nil {
				errs = append(errs, f.err)
				bad = true
			}
			if bad {
				continue
			}
			opts = append(opts, f.options())
			for _, o := range f.overloads {
				if g.udfs[o.id] != nil {
					errs = append(errs, fmt.Errorf("expr: function %s is registered twice with the same parameter types", f.name))
				}
				g.udfs[o.id] = o
			}
		}
		if len(errs) > 0 {
			// Every expression of the environment fails with this error, whatever functions it
			// calls: say so, so that it is not read as a problem of the expression.
			g.baseErr = fmt.Errorf("expr: a function registered in the environment is invalid, so no expression can be compiled in it until it is fixed: %w", errors.Join(errs...))
			return
		}
		env, err := cel.NewEnv(opts...)
		if err != nil {
			g.baseErr = fmt.Errorf("expr: registered functions: %w", err)
			return
		}
		g.base = env
	})
	return g.base, g.baseErr
}

// schemaKey identifies a schema in the caches.
func schemaKey(s *arrow.Schema) string {
	if fp := s.Fingerprint(); fp != "" {
		return fp
	}
	return s.String()
}

func (g *generation) schemaEnv(schema *arrow.Schema, key string) (*schemaEnv, error) {
	g.mu.Lock()
	if g.schemas == nil || len(g.schemas) >= maxCachedSchemas {
		g.schemas = map[string]*schemaEntry{}
	}
	ent := g.schemas[key]
	if ent == nil {
		ent = &schemaEntry{}
		g.schemas[key] = ent
	}
	g.mu.Unlock()
	ent.once.Do(func() {
		base, err := g.baseEnv()
		if err != nil {
			ent.err = err
			return
		}
		ent.env, ent.err = newSchemaEnv(base, schema)
	})
	return ent.env, ent.err
}

func (g *generation) program(schema *arrow.Schema, src string) (*Program, error) {
	key := programKey{schema: schemaKey(schema), src: src}
	g.mu.Lock()
	if g.programs == nil || len(g.programs) >= maxCachedPrograms {
		g.programs = map[programKey]*programEntry{}
	}
	ent := g.programs[key]
	if ent == nil {
		ent = &programEntry{}
		g.programs[key] = ent
	}
	g.mu.Unlock()
	ent.once.Do(func() {
		se, err := g.schemaEnv(schema, key.schema)
		if err != nil {
			ent.err = err
			return
		}
		ent.prog, ent.err = compile(se, g.udfs, src)
	})
	return ent.prog, ent.err
}

// schemaEnv is the CEL environment of one schema: one variable per usable column.
type schemaEnv struct {
	schema   *arrow.Schema
	env      *cel.Env
	prov     *structProvider
	vars     map[string]int    // variable name → column index
	columns  []string          // "name type", for error messages
	unusable []string          // "name (reason)", in schema order
	why      map[string]string // column name → why it cannot be used
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedNames cannot name variables: CEL's keywords, reserved words and type names.
var reservedNames = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true, "const": true,
	"continue": true, "else": true, "for": true, "function": true, "if": true, "import": true,
	"let": true, "loop": true, "package": true, "namespace": true, "return": true, "var": true,
	"void": true, "while": true,
	"bool": true, "bytes": true, "double": true, "dyn": true, "int": true, "list": true, "map": true,
	"null_type": true, "string": true, "type": true, "uint": true,
}

func newSchemaEnv(base *cel.Env, schema *arrow.Schema) (*schemaEnv, error) {
	se := &schemaEnv{schema: schema, prov: newStructProvider(base.CELTypeProvider()), vars: map[string]int{}, why: map[string]string{}}
	unusable := func(name, why string) {
		if identifier.MatchString(name) {
			se.unusable = append(se.unusable, fmt.Sprintf("%s (%s)", name, why))
		} else {
			se.unusable = append(se.unusable, fmt.Sprintf("%q (%s)", name, why))
		}
		se.why[name] = why
	}
	counts := map[string]int{}
	for _, f := range schema.Fields() {
		counts[f.Name]++
	}
	opts := []cel.EnvOption{cel.CustomTypeProvider(se.prov)}
	for i, f := range schema.Fields() {
		switch {
		case !identifier.MatchString(f.Name):
			unusable(f.Name, "not an identifier")
			continue
		case reservedNames[f.Name]:
			unusable(f.Name, "a reserved word in CEL")
			continue
		case counts[f.Name] > 1:
			if _, done := se.why[f.Name]; !done {
				unusable(f.Name, fmt.Sprintf("%d columns have this name", counts[f.Name]))
			}
			continue
		}
		t, err := celTypeOf(f.Type, f.Name, se.prov)
		if err != nil {
			unusable(f.Name, err.Error())
			continue
		}
		se.vars[f.Name] = i
		se.columns = append(se.columns, f.Name+" "+typeString(t))
		opts = append(opts, cel.Variable(f.Name, t))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("expr: schema %s: %w", strings.Join(se.columns, ", "), err)
	}
	se.env = env
	return se, nil
}

// visit calls fn for e and every expression under it.
func visit(e ast.Expr, fn func(ast.Expr)) {
	fn(e)
	switch e.Kind() {
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			visit(c.Target(), fn)
		}
		for _, a := range c.Args() {
			visit(a, fn)
		}
	case ast.SelectKind:
		visit(e.AsSelect().Operand(), fn)
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			visit(x, fn)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			visit(me.Key(), fn)
			visit(me.Value(), fn)
		}
	case ast.StructKind:
		for _, en := range e.AsStruct().Fields() {
			visit(en.AsStructField().Value(), fn)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		visit(c.IterRange(), fn)
		visit(c.AccuInit(), fn)
		visit(c.LoopCondition(), fn)
		visit(c.LoopStep(), fn)
		visit(c.Result(), fn)
	}
}
