package expr

import (
	"regexp"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
	"github.com/apache/arrow-go/v18/arrow"
)

// planner builds the column-wise plan of a checked expression: a tree of nodes over Arrow
// arrays, with rowNodes where cel-go evaluates a sub-expression row by row.
type planner struct {
	p         *Program
	udfs      map[string]*overload
	fallbacks []string
}

func (pl *planner) typeOf(e ast.Expr) *types.Type { return pl.p.checked.GetType(e.ID()) }

// kind classifies the CEL type of e for the kernels.
func (pl *planner) kind(e ast.Expr) types.Kind { return pl.typeOf(e).Kind() }

// build returns the node computing e. ok is false when e can be computed neither column-wise
// nor row by row into an array (its type has no Arrow equivalent): the caller then evaluates a
// larger sub-expression row by row.
func (pl *planner) build(e ast.Expr) (node, bool) {
	if !pl.usesColumns(e) {
		if n, ok := pl.constant(e); ok {
			return n, true
		}
	}
	switch e.Kind() {
	case ast.IdentKind:
		if idx, ok := pl.p.se.vars[e.AsIdent()]; ok {
			return &colNode{idx: idx, name: e.AsIdent()}, true
		}
	case ast.SelectKind:
		if n := pl.selectNode(e); n != nil {
			return n, true
		}
	case ast.CallKind:
		mark := len(pl.fallbacks)
		if n := pl.call(e); n != nil {
			return n, true
		}
		pl.fallbacks = pl.fallbacks[:mark] // arguments planned in vain
	}
	return pl.fallback(e)
}

// fallback evaluates e row by row, if its values fit in an array.
func (pl *planner) fallback(e ast.Expr) (node, bool) {
	dt, err := arrowTypeOf(pl.typeOf(e), pl.p.se.prov)
	if err != nil {
		return nil, false
	}
	n := pl.rowwise(e, dt)
	return n, n != nil
}

// rowwise returns a node evaluating e row by row with cel-go into an array of type dt.
func (pl *planner) rowwise(e ast.Expr, dt arrow.DataType) node {
	src := pl.p.sourceOf(e)
	pl.fallbacks = append(pl.fallbacks, src)
	if e == pl.p.checked.Expr() {
		return &rowNode{prg: pl.p.whole, dt: dt, id: e.ID(), src: src}
	}
	sub := ast.NewCheckedAST(ast.NewAST(e, pl.p.checked.SourceInfo()), pl.p.checked.TypeMap(), pl.p.checked.ReferenceMap())
	prg, err := pl.p.se.env.PlanProgram(sub)
	if err != nil {
		pl.fallbacks = pl.fallbacks[:len(pl.fallbacks)-1]
		return nil
	}
	return &rowNode{prg: prg, dt: dt, id: e.ID(), src: src}
}

// usesColumns reports whether e reads a column (or might: comprehensions are assumed to).
func (pl *planner) usesColumns(e ast.Expr) bool {
	uses := false
	visit(e, func(x ast.Expr) {
		switch x.Kind() {
		case ast.IdentKind:
			if _, ok := pl.p.se.vars[x.AsIdent()]; ok {
				uses = true
			}
		case ast.ComprehensionKind:
			uses = true
		}
	})
	return uses
}

// constant evaluates e, which reads no column, once. Errors become constant errors: the rows
// that evaluate e fail with it.
func (pl *planner) constant(e ast.Expr) (node, bool) {
	sub := ast.NewCheckedAST(ast.NewAST(e, pl.p.checked.SourceInfo()), pl.p.checked.TypeMap(), pl.p.checked.ReferenceMap())
	prg, err := pl.p.se.env.PlanProgram(sub)
	if err != nil {
		return nil, false
	}
	val, _, err := prg.Eval(interpreter.EmptyActivation())
	if err != nil {
		ce, ok := val.(*types.Err)
		if !ok {
			return nil, false
		}
		val = types.LabelErrNode(e.ID(), ce)
	}
	return &constNode{val: val, src: pl.p.sourceOf(e)}, true
}

// selectNode plans a field of a struct column, or has() of one.
func (pl *planner) selectNode(e ast.Expr) node {
	sel := e.AsSelect()
	col, path, ok := pl.fieldPath(sel.Operand())
	if !ok {
		return nil
	}
	st, ok := fieldType(pl.p.se.schema.Field(col).Type, path).(*arrow.StructType)
	if !ok {
		return nil
	}
	idx, ok := st.FieldIdx(sel.FieldName())
	if !ok {
		return nil
	}
	f := &fieldNode{col: col, path: append(path, idx), name: pl.p.sourceOf(e)}
	if sel.IsTestOnly() {
		return &hasNode{field: f, src: f.name}
	}
	return f
}

// fieldPath resolves e as a column or a field path into a struct column.
func (pl *planner) fieldPath(e ast.Expr) (col int, path []int, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		col, ok = pl.p.se.vars[e.AsIdent()]
		return col, nil, ok
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return 0, nil, false
		}
		col, path, ok = pl.fieldPath(sel.Operand())
		if !ok {
			return 0, nil, false
		}
		st, isStruct := fieldType(pl.p.se.schema.Field(col).Type, path).(*arrow.StructType)
		if !isStruct {
			return 0, nil, false
		}
		idx, found := st.FieldIdx(sel.FieldName())
		if !found {
			return 0, nil, false
		}
		return col, append(path, idx), true
	}
	return 0, nil, false
}

// fieldType returns the type at path under dt.
func fieldType(dt arrow.DataType, path []int) arrow.DataType {
	for _, idx := range path {
		dt = dt.(*arrow.StructType).Field(idx).Type
	}
	return dt
}

// vectorKinds are the CEL kinds the kernels handle.
var vectorKinds = map[types.Kind]bool{
	types.BoolKind: true, types.IntKind: true, types.UintKind: true, types.DoubleKind: true,
	types.StringKind: true, types.BytesKind: true, types.TimestampKind: true,
}

// call plans a function call column-wise, or returns nil.
func (pl *planner) call(e ast.Expr) node {
	call := e.AsCall()
	ids := pl.p.checked.GetOverloadIDs(e.ID())
	args := call.Args()
	if call.IsMemberFunction() {
		args = append([]ast.Expr{call.Target()}, args...)
	}
	fn := call.FunctionName()
	oid := ""
	if len(ids) == 1 {
		oid = ids[0]
	}
	id := e.ID()
	src := pl.p.sourceOf(e)

	// Each case checks that the kernel applies before building the arguments.
	switch {
	case fn == operators.LogicalAnd || fn == operators.LogicalOr:
		l, r, ok := pl.build2(args)
		if !ok {
			return nil
		}
		return &logicNode{and: fn == operators.LogicalAnd, l: l, r: r, src: src}
	case fn == operators.LogicalNot:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &notNode{arg: a, src: src}
	case fn == operators.Conditional:
		if !vectorKinds[pl.kind(e)] || pl.kind(e) == types.TimestampKind {
			return nil
		}
		c, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		t, f, ok := pl.build2(args[1:])
		if !ok {
			return nil
		}
		return &condNode{cond: c, t: t, f: f, kind: pl.kind(e), src: src}
	case isComparison(fn):
		lk, rk := pl.kind(args[0]), pl.kind(args[1])
		if !orderable(lk, rk) {
			return nil
		}
		l, r, ok := pl.build2(args)
		if !ok {
			return nil
		}
		return &cmpNode{op: fn, l: l, r: r, lk: lk, rk: rk, id: id, src: src}
	case fn == operators.Add && len(args) == 2 && (pl.kind(e) == types.StringKind || pl.kind(e) == types.BytesKind):
		l, r, ok := pl.build2(args)
		if !ok {
			return nil
		}
		return &concatNode{l: l, r: r, bytes: pl.kind(e) == types.BytesKind}
	case isArith(fn) && len(args) == 2:
		k := pl.kind(e)
		if k != types.IntKind && k != types.UintKind && k != types.DoubleKind || pl.kind(args[0]) != k || pl.kind(args[1]) != k {
			return nil
		}
		if fn == operators.Modulo && k == types.DoubleKind {
			return nil
		}
		l, r, ok := pl.build2(args)
		if !ok {
			return nil
		}
		return &arithNode{op: fn, l: l, r: r, kind: k, id: id, src: src}
	case fn == operators.Negate:
		k := pl.kind(e)
		if k != types.IntKind && k != types.DoubleKind {
			return nil
		}
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &negNode{arg: a, kind: k, id: id, src: src}
	case fn == overloads.Size && len(args) == 1:
		k := pl.kind(args[0])
		if k != types.StringKind && k != types.BytesKind && k != types.ListKind {
			return nil
		}
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &sizeNode{arg: a, kind: k, src: src}
	case oid == overloadStringContains || oid == overloadStringStarts || oid == overloadStringEnds ||
		oid == overloadBytesContains || oid == overloadBytesStarts || oid == overloadBytesEnds:
		l, r, ok := pl.build2(args)
		if !ok {
			return nil
		}
		return &strPredNode{op: fn, l: l, r: r, bytes: pl.kind(args[0]) == types.BytesKind, src: src}
	case oid == overloadStringMatches || oid == overloadBytesMatches:
		pat, ok := pl.literalString(args[1])
		if !ok {
			return nil
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil // the error is raised row by row
		}
		l, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &matchNode{re: re, arg: l, bytes: pl.kind(args[0]) == types.BytesKind, src: src}
	case fn == operators.In && oid == overloads.InList:
		set, ok := pl.literalSet(args[1], pl.kind(args[0]))
		if !ok {
			return nil
		}
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &inNode{arg: a, set: set, kind: pl.kind(args[0]), src: src}
	case oid == overloadLowerASCII || oid == overloadUpperASCII:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &asciiCaseNode{arg: a, upper: oid == overloadUpperASCII, src: src}
	case oid == overloadSplit || oid == overloadSplitN:
		sep, ok := pl.literalString(args[1])
		if !ok {
			return nil
		}
		limit := -1
		if oid == overloadSplitN {
			if args[2].Kind() != ast.LiteralKind {
				return nil
			}
			k, isInt := args[2].AsLiteral().(types.Int)
			if !isInt || int64(int(k)) != int64(k) {
				return nil
			}
			limit = max(int(k), -1) // SplitN treats every negative n as -1
		}
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &splitNode{arg: a, sep: sep, limit: limit, src: src}
	case oid == overloadIsNull || oid == overloadIsNotNull:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &nullTestNode{arg: a, isNull: oid == overloadIsNull, src: src}
	case oid == overloadBytesToString || oid == overloadStringToBytes:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &reinterpretNode{arg: a, toString: oid == overloadBytesToString, src: src}
	case oid == overloadCastBytesString:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &reinterpretNode{arg: a, toString: true, src: src}
	case oid == overloadCastStringString:
		n, _ := pl.build(args[0])
		return n
	case oid == overloadCastIntString || oid == overloadCastUintString:
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		conv := overloads.IntToString
		if oid == overloadCastUintString {
			conv = overloads.UintToString
		}
		return &convNode{oid: conv, arg: a, id: id, src: src}
	case convertible(oid):
		a, ok := pl.build(args[0])
		if !ok {
			return nil
		}
		return &convNode{oid: oid, arg: a, id: id, src: src}
	case pl.udfs[oid] != nil:
		o := pl.udfs[oid]
		dt, err := arrowTypeOf(o.result.cel, pl.p.se.prov)
		if err != nil {
			return nil
		}
		nodes := make([]node, len(args))
		for i, a := range args {
			n, ok := pl.build(a)
			if !ok {
				return nil
			}
			nodes[i] = n
		}
		return &udfNode{o: o, args: nodes, dt: dt, id: id, src: src}
	}
	return nil
}

func (pl *planner) build2(args []ast.Expr) (node, node, bool) {
	l, ok := pl.build(args[0])
	if !ok {
		return nil, nil, false
	}
	r, ok := pl.build(args[1])
	if !ok {
		return nil, nil, false
	}
	return l, r, true
}

// literalString returns the value of a string literal.
func (pl *planner) literalString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// literalSet evaluates a list that reads no column, whose elements are all of kind k, into a
// set of Go values (the keys inSet uses).
func (pl *planner) literalSet(e ast.Expr, k types.Kind) (map[any]bool, bool) {
	if k != types.IntKind && k != types.UintKind && k != types.StringKind && k != types.BoolKind && k != types.BytesKind {
		return nil, false
	}
	if pl.usesColumns(e) {
		return nil, false
	}
	n, ok := pl.constant(e)
	if !ok {
		return nil, false
	}
	l, ok := n.(*constNode).val.(traits.Lister)
	if !ok {
		return nil, false
	}
	set := map[any]bool{}
	for it := l.Iterator(); it.HasNext() == types.True; {
		v := it.Next()
		if v.Type().TypeName() != kindName(k) {
			return nil, false // mixed types: equality across types is cel-go's
		}
		switch x := v.(type) {
		case types.Bytes:
			set[string(x)] = true
		default:
			set[v.Value()] = true
		}
	}
	return set, true
}

func kindName(k types.Kind) string {
	switch k {
	case types.IntKind:
		return "int"
	case types.UintKind:
		return "uint"
	case types.StringKind:
		return "string"
	case types.BoolKind:
		return "bool"
	case types.BytesKind:
		return "bytes"
	}
	return ""
}

func isComparison(fn string) bool {
	switch fn {
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		return true
	}
	return false
}

func isArith(fn string) bool {
	switch fn {
	case operators.Add, operators.Subtract, operators.Multiply, operators.Divide, operators.Modulo:
		return true
	}
	return false
}

// orderable reports whether the kernels compare values of kinds l and r.
func orderable(l, r types.Kind) bool {
	num := func(k types.Kind) bool { return k == types.IntKind || k == types.UintKind || k == types.DoubleKind }
	if num(l) && num(r) {
		return true
	}
	return l == r && (l == types.StringKind || l == types.BytesKind || l == types.BoolKind || l == types.TimestampKind)
}
