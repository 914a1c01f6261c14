package expr

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/parser"
	"github.com/apache/arrow-go/v18/arrow"
)

// compile checks src in se and plans it.
func compile(se *schemaEnv, udfs map[string]*overload, src string) (*Program, error) {
	checked, iss := se.env.Compile(src)
	if iss.Err() != nil {
		return nil, compileError(se, src, iss)
	}
	native := checked.NativeRep()
	p := &Program{src: src, se: se, checked: native, celType: checked.OutputType()}

	// The result must fit in a column. A bare column, or a field of a struct column, keeps its
	// Arrow type; anything computed takes the Arrow type of its CEL type.
	if dt, ok := columnPathType(se, native.Expr()); ok {
		p.resultType = dt
	} else {
		dt, err := arrowTypeOf(p.celType, se.prov)
		if err != nil {
			return nil, &Error{Expr: src, Line: 1, Column: 1, Columns: se.columns, Unusable: se.unusable,
				Issues: []Issue{{Line: 1, Column: 1, Message: err.Error() + "; convert it, e.g. with string(...), int(...) or double(...)"}}}
		}
		p.resultType = dt
	}

	seen := map[int]bool{}
	fns := map[string]bool{}
	visit(native.Expr(), func(x ast.Expr) {
		switch x.Kind() {
		case ast.IdentKind:
			if idx, ok := se.vars[x.AsIdent()]; ok && !seen[idx] {
				seen[idx] = true
				p.cols = append(p.cols, idx)
			}
		case ast.CallKind:
			for _, id := range native.GetOverloadIDs(x.ID()) {
				if o := udfs[id]; o != nil {
					fns[o.fn] = true
				}
			}
		}
	})
	slices.Sort(p.cols)
	for f := range fns {
		p.funcs = append(p.funcs, f)
	}
	slices.Sort(p.funcs)

	whole, err := se.env.Program(checked)
	if err != nil {
		return nil, fmt.Errorf("expr: %q: plan: %w", src, err)
	}
	p.whole = whole
	pl := &planner{p: p, udfs: udfs}
	root, ok := pl.build(native.Expr())
	if !ok {
		// The result type is storable (checked above), so the whole expression can run per row.
		root = pl.rowwise(native.Expr(), p.resultType)
	}
	p.root = root
	p.fallbacks = pl.fallbacks
	return p, nil
}

// columnPathType returns the Arrow type of e when e is a column, or a field path into a struct
// column (geo.pos.lat).
func columnPathType(se *schemaEnv, e ast.Expr) (arrow.DataType, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		idx, ok := se.vars[e.AsIdent()]
		if !ok {
			return nil, false
		}
		return se.schema.Field(idx).Type, true
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil, false
		}
		parent, ok := columnPathType(se, sel.Operand())
		if !ok {
			return nil, false
		}
		st, ok := parent.(*arrow.StructType)
		if !ok {
			return nil, false
		}
		idx, ok := st.FieldIdx(sel.FieldName())
		if !ok {
			return nil, false
		}
		return st.Field(idx).Type, true
	}
	return nil, false
}

// compileError converts cel-go's issues into an *Error, with hints for common mistakes.
func compileError(se *schemaEnv, src string, iss *cel.Issues) *Error {
	e := &Error{Expr: src, Columns: se.columns, Unusable: se.unusable}
	for _, ce := range iss.Errors() {
		msg := strings.TrimSuffix(ce.Message, " (in container '')")
		if strings.TrimSpace(src) == "" {
			msg = "the expression is empty"
		} else if i := strings.Index(msg, " (enable with `cel.OptionalTypes()`)"); i >= 0 {
			msg = msg[:i] + ": optional values are not supported in sluice expressions"
		}
		msg += hint(se, msg)
		// cel-go locates the end of an empty text at column -1 (0 from 1).
		e.Issues = append(e.Issues, Issue{Line: max(ce.Location.Line(), 1), Column: max(ce.Location.Column(), 0) + 1, Message: msg})
	}
	slices.SortStableFunc(e.Issues, func(a, b Issue) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if len(e.Issues) > 0 {
		e.Line, e.Column = e.Issues[0].Line, e.Issues[0].Column
	}
	return e
}

// hint suggests a fix for a cel-go message, or returns "".
func hint(se *schemaEnv, msg string) string {
	if name, ok := strings.CutPrefix(msg, "undeclared reference to '"); ok {
		name, _, _ = strings.Cut(name, "'")
		if why, ok := se.why[name]; ok {
			return "; column " + name + " cannot be used: " + why
		}
		return "" // cel-go suggests close names itself
	}
	if strings.Contains(msg, "found no matching overload for '_==_'") || strings.Contains(msg, "found no matching overload for '_!=_'") {
		if strings.Contains(msg, ", null)") || strings.Contains(msg, "(null, ") {
			return "; test for null with isNull(x) or isNotNull(x)"
		}
		if args, ok := overloadArgs(msg); ok && len(args) == 2 && numericType[args[0]] && numericType[args[1]] {
			return "; == and != compare numbers of one type in CEL (unlike <, >): write 10.0 for a double, 10 for an int, or convert with double(...), int(...)"
		}
	}
	return ""
}

// sourceOf returns e as source text (cel-go's unparsing of the checked expression).
func (p *Program) sourceOf(e ast.Expr) string {
	s, err := parser.Unparse(e, p.checked.SourceInfo())
	if err != nil {
		return fmt.Sprintf("expression %d: %v", e.ID(), err)
	}
	return s
}

// numericType holds CEL's numeric type names.
var numericType = map[string]bool{"int": true, "uint": true, "double": true}

// overloadArgs returns the argument types of cel-go's "found no matching overload for 'f'
// applied to '(a, b)'" message.
func overloadArgs(msg string) ([]string, bool) {
	_, rest, ok := strings.Cut(msg, "applied to '(")
	if !ok {
		return nil, false
	}
	list, _, ok := strings.Cut(rest, ")'")
	if !ok {
		return nil, false
	}
	return strings.Split(list, ", "), true
}
