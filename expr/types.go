package expr

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/apache/arrow-go/v18/arrow"
)

// structTypePrefix starts the CEL type name of every Arrow struct column: a column "geo" of
// struct type has the CEL object type "sluice.geo", its struct field "pos" "sluice.geo.pos".
const structTypePrefix = "sluice."

// celTypeOf returns the CEL type of an Arrow type, registering struct types with prov under
// path. It reports why the type is not usable in expressions.
func celTypeOf(dt arrow.DataType, path string, prov *structProvider) (*types.Type, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return types.BoolType, nil
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type:
		return types.IntType, nil
	case *arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		return types.UintType, nil
	case *arrow.Float32Type, *arrow.Float64Type:
		return types.DoubleType, nil
	case *arrow.StringType, *arrow.LargeStringType:
		return types.StringType, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return types.BytesType, nil
	case *arrow.TimestampType:
		return types.TimestampType, nil
	case *arrow.DurationType:
		return types.DurationType, nil
	case *arrow.ListType:
		return listCELType(t.Elem(), path, prov)
	case *arrow.LargeListType:
		return listCELType(t.Elem(), path, prov)
	case *arrow.FixedSizeListType:
		return listCELType(t.Elem(), path, prov)
	case *arrow.MapType:
		k, err := celTypeOf(t.KeyType(), path+".key", prov)
		if err != nil {
			return nil, err
		}
		switch k.Kind() {
		case types.StringKind, types.IntKind, types.UintKind, types.BoolKind:
		default:
			return nil, fmt.Errorf("map keys of type %s cannot be used (only string, integer and bool keys)", t.KeyType())
		}
		v, err := celTypeOf(t.ItemType(), path+".value", prov)
		if err != nil {
			return nil, err
		}
		return types.NewMapType(k, v), nil
	case *arrow.StructType:
		return prov.add(path, t)
	case *arrow.NullType:
		return types.NullType, nil
	}
	return nil, fmt.Errorf("type %s is not supported in expressions", dt)
}

func listCELType(elem arrow.DataType, path string, prov *structProvider) (*types.Type, error) {
	e, err := celTypeOf(elem, path+".element", prov)
	if err != nil {
		return nil, err
	}
	return types.NewListType(e), nil
}

// Arrow types of computed values (see arrowTypeOf).
var (
	timestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	durationType  = &arrow.DurationType{Unit: arrow.Microsecond}
)

// arrowTypeOf returns the Arrow type that stores values of CEL type t, or an error naming the
// type when no column can hold it (dyn, type values, optionals...). Timestamps are stored in
// microseconds, UTC, as Spark does.
func arrowTypeOf(t *types.Type, prov *structProvider) (arrow.DataType, error) {
	switch t.Kind() {
	case types.BoolKind:
		return arrow.FixedWidthTypes.Boolean, nil
	case types.IntKind:
		return arrow.PrimitiveTypes.Int64, nil
	case types.UintKind:
		return arrow.PrimitiveTypes.Uint64, nil
	case types.DoubleKind:
		return arrow.PrimitiveTypes.Float64, nil
	case types.StringKind:
		return arrow.BinaryTypes.String, nil
	case types.BytesKind:
		return arrow.BinaryTypes.Binary, nil
	case types.TimestampKind:
		return timestampType, nil
	case types.DurationKind:
		return durationType, nil
	case types.NullTypeKind:
		return arrow.Null, nil
	case types.ListKind:
		e, err := arrowTypeOf(t.Parameters()[0], prov)
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(e), nil
	case types.MapKind:
		k, err := arrowTypeOf(t.Parameters()[0], prov)
		if err != nil {
			return nil, err
		}
		v, err := arrowTypeOf(t.Parameters()[1], prov)
		if err != nil {
			return nil, err
		}
		return arrow.MapOf(k, v), nil
	case types.StructKind:
		if s := prov.lookup(t.TypeName()); s != nil {
			return s.dt, nil
		}
	}
	return nil, fmt.Errorf("a value of type %s cannot be stored in a column", typeString(t))
}

// typeString formats a CEL type for messages.
func typeString(t *types.Type) string {
	switch {
	case t.Kind() == types.StructKind && strings.HasPrefix(t.TypeName(), structTypePrefix):
		return "struct"
	case t.Kind() == types.TimestampKind:
		return "timestamp"
	case t.Kind() == types.DurationKind:
		return "duration"
	}
	return t.String()
}

// structInfo describes the CEL object type of one Arrow struct type.
type structInfo struct {
	name   string
	dt     *arrow.StructType
	typ    *types.Type
	names  []string
	fields map[string]*types.FieldType
	index  map[string]int
}

// structProvider adds the object types of a schema's struct columns to a CEL type provider.
// It is built once per schema and read-only afterwards.
type structProvider struct {
	types.Provider
	structs map[string]*structInfo
}

func newStructProvider(base types.Provider) *structProvider {
	return &structProvider{Provider: base, structs: map[string]*structInfo{}}
}

func (p *structProvider) lookup(name string) *structInfo { return p.structs[name] }

// add registers the struct type st found at path (a column name, or a column's field path).
func (p *structProvider) add(path string, st *arrow.StructType) (*types.Type, error) {
	name := structTypePrefix + path
	info := &structInfo{name: name, dt: st, typ: types.NewObjectType(name), fields: map[string]*types.FieldType{}, index: map[string]int{}}
	p.structs[name] = info
	for i, f := range st.Fields() {
		ft, err := celTypeOf(f.Type, path+"."+f.Name, p)
		if err != nil {
			// A field of an unsupported type is left out; the others stay usable.
			continue
		}
		idx := i
		info.names = append(info.names, f.Name)
		info.index[f.Name] = idx
		info.fields[f.Name] = &types.FieldType{
			Type: ft,
			IsSet: func(target any) bool {
				v, ok := target.(*structVal)
				return ok && v.valid && v.r.arr.Field(idx).IsValid(v.row)
			},
			GetFrom: func(target any) (any, error) {
				v, ok := target.(*structVal)
				if !ok {
					return nil, fmt.Errorf("no such field %q", f.Name)
				}
				return v.field(idx), nil
			},
		}
	}
	return info.typ, nil
}

// FindStructType implements types.Provider.
func (p *structProvider) FindStructType(name string) (*types.Type, bool) {
	if s := p.structs[name]; s != nil {
		return types.NewTypeTypeWithParam(s.typ), true
	}
	return p.Provider.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *structProvider) FindStructFieldNames(name string) ([]string, bool) {
	if s := p.structs[name]; s != nil {
		return s.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (p *structProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if s := p.structs[name]; s != nil {
		ft, ok := s.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

// NewValue implements types.Provider: struct values cannot be built in expressions.
func (p *structProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if p.structs[name] != nil {
		return types.NewErr("cannot create a value of the column type %s", name)
	}
	return p.Provider.NewValue(name, fields)
}
