package arrowbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// JSONInferrer infers the schema of JSON documents as Spark's JSON reader does (its
// inferSchema): an integer is int64, a number with a fraction or an exponent (or an integer too
// large for int64) is float64, and the two together are float64; a string is a string (times
// stay strings: give a schema for timestamp columns); true and false are bool; an object is a
// struct and an array a list of its elements' merged type. Values of conflicting types (a
// string and a number, an object and an array...) give a string column, which JSONParser fills
// with the values' JSON text. A field that is only ever null, and the elements of arrays that are
// only ever empty, are strings. Every field seen in any document is a column, every column is
// nullable, and the fields of each struct are sorted by name, as Spark sorts them. Fields with
// an empty name and objects without fields are left out.
//
// The zero value is ready to use. A JSONInferrer is not safe for concurrent use.
type JSONInferrer struct {
	root    *jsonKind
	objects int
	skipped int
}

// jsonKind is the inferred type of a value.
type jsonKind struct {
	kind   int
	fields map[string]*jsonKind // kindStruct
	elem   *jsonKind            // kindList; nil while every array was empty
}

const (
	kindNull = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindStruct
	kindList
)

// Add adds a document to the sample. A document that is not one JSON object (malformed, an
// array, a scalar, null) is skipped and counted, as Spark's PERMISSIVE mode leaves it out of
// the inference.
func (in *JSONInferrer) Add(doc []byte) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		in.skipped++
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		in.skipped++ // trailing data
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		in.skipped++
		return
	}
	in.objects++
	in.root = mergeKinds(in.root, kindOf(obj))
}

// Documents returns how many documents were used and how many were skipped.
func (in *JSONInferrer) Documents() (objects, skipped int) { return in.objects, in.skipped }

// Schema returns the inferred schema. It fails when no document was a JSON object with a
// field.
func (in *JSONInferrer) Schema() (*arrow.Schema, error) {
	if in.objects == 0 {
		if in.skipped == 0 {
			return nil, errors.New("arrowbatch: no JSON documents to infer a schema from")
		}
		return nil, fmt.Errorf("arrowbatch: none of the %d documents is a JSON object", in.skipped)
	}
	t, ok := in.root.arrowType()
	if !ok {
		return nil, fmt.Errorf("arrowbatch: the %d JSON objects have no fields", in.objects)
	}
	return arrow.NewSchema(t.(*arrow.StructType).Fields(), nil), nil
}

func kindOf(v any) *jsonKind {
	switch x := v.(type) {
	case nil:
		return &jsonKind{kind: kindNull}
	case bool:
		return &jsonKind{kind: kindBool}
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			return &jsonKind{kind: kindFloat}
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return &jsonKind{kind: kindFloat} // too large for int64
		}
		return &jsonKind{kind: kindInt}
	case string:
		return &jsonKind{kind: kindString}
	case map[string]any:
		k := &jsonKind{kind: kindStruct, fields: make(map[string]*jsonKind, len(x))}
		for name, fv := range x {
			k.fields[name] = kindOf(fv)
		}
		return k
	case []any:
		k := &jsonKind{kind: kindList}
		for _, e := range x {
			k.elem = mergeKinds(k.elem, kindOf(e))
		}
		return k
	}
	return &jsonKind{kind: kindString}
}

// mergeKinds returns the type that holds values of both a and b (Spark's compatibleType); it
// may reuse a.
func mergeKinds(a, b *jsonKind) *jsonKind {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.kind == kindNull:
		return b
	case b.kind == kindNull:
		return a
	case a.kind == b.kind:
		switch a.kind {
		case kindStruct:
			for name, f := range b.fields {
				a.fields[name] = mergeKinds(a.fields[name], f)
			}
		case kindList:
			a.elem = mergeKinds(a.elem, b.elem)
		}
		return a
	case (a.kind == kindInt && b.kind == kindFloat) || (a.kind == kindFloat && b.kind == kindInt):
		return &jsonKind{kind: kindFloat}
	}
	return &jsonKind{kind: kindString}
}

// arrowType returns the Arrow type of k; ok is false for a struct without fields, which is
// left out.
func (k *jsonKind) arrowType() (arrow.DataType, bool) {
	if k == nil {
		return arrow.BinaryTypes.String, true
	}
	switch k.kind {
	case kindBool:
		return arrow.FixedWidthTypes.Boolean, true
	case kindInt:
		return arrow.PrimitiveTypes.Int64, true
	case kindFloat:
		return arrow.PrimitiveTypes.Float64, true
	case kindStruct:
		names := make([]string, 0, len(k.fields))
		for name := range k.fields {
			if name != "" {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		fields := make([]arrow.Field, 0, len(names))
		for _, name := range names {
			if t, ok := k.fields[name].arrowType(); ok {
				fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
			}
		}
		if len(fields) == 0 {
			return nil, false
		}
		return arrow.StructOf(fields...), true
	case kindList:
		t, ok := k.elem.arrowType()
		if !ok {
			t = arrow.BinaryTypes.String
		}
		return arrow.ListOf(t), true
	}
	return arrow.BinaryTypes.String, true // strings, and fields only ever null
}
