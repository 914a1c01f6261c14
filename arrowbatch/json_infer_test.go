package arrowbatch_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

// TestJSONInferrer: types are inferred as Spark infers them, and the documents they were
// inferred from parse without errors.
func TestJSONInferrer(t *testing.T) {
	tests := []struct {
		name string
		docs []string
		want string // the schema's fields, "name: type" joined by "; "
	}{
		{"scalars", []string{`{"i": 1, "f": 1.5, "s": "x", "b": true, "n": null, "e": 1e3}`},
			"b: bool; e: float64; f: float64; i: int64; n: utf8; s: utf8"},
		{"ints and floats", []string{`{"x": 1}`, `{"x": 2.5}`}, "x: float64"},
		{"too large for int64", []string{`{"x": 1}`, `{"x": 99999999999999999999}`}, "x: float64"},
		{"timestamps stay strings", []string{`{"ts": "2024-05-01T12:30:00.123456789Z"}`}, "ts: utf8"},
		{"conflicts are strings", []string{`{"a": 1, "b": {"x": 1}, "c": [1], "d": true}`, `{"a": "x", "b": [1], "c": {"y": 2}, "d": 0}`},
			"a: utf8; b: utf8; c: utf8; d: utf8"},
		{"fields of any document, sorted", []string{`{"z": 1}`, `{"a": 1, "m": null}`, `{"m": false}`}, "a: int64; m: bool; z: int64"},
		{"nested", []string{`{"geo": {"lon": 1, "lat": 2.5}, "tags": ["a"]}`, `{"geo": {"alt": 3}, "tags": []}`},
			"geo: struct<alt: int64 nullable, lat: float64 nullable, lon: int64 nullable>; tags: list<item: utf8, nullable>"},
		{"lists of objects merge", []string{`{"ev": [{"a": 1}, {"b": "x"}]}`, `{"ev": [{"a": 2.5}]}`},
			"ev: list<item: struct<a: float64 nullable, b: utf8 nullable>, nullable>"},
		{"empty and null arrays", []string{`{"l": []}`, `{"l": null}`, `{"m": [null]}`}, "l: list<item: utf8, nullable>; m: list<item: utf8, nullable>"},
		{"empty objects are left out", []string{`{"a": {}, "b": 1, "": 2}`}, "b: int64"},
		{"malformed documents are skipped", []string{`{"a": 1}`, `{"a": `, `[1]`, `7`, `null`, `{"a": 2} {"b": 1}`}, "a: int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in arrowbatch.JSONInferrer
			for _, d := range tt.docs {
				in.Add([]byte(d))
			}
			s, err := in.Schema()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range s.Fields() {
				if !f.Nullable {
					t.Errorf("%s is not nullable", f.Name)
				}
				got = append(got, f.Name+": "+f.Type.String())
			}
			if diff := cmp.Diff(tt.want, strings.Join(got, "; ")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Every document the inference used parses into the inferred schema.
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			p, err := arrowbatch.NewJSONParser(s)
			if err != nil {
				t.Fatal(err)
			}
			cols, failed := p.Parse(mem, len(tt.docs), func(i int) []byte { return []byte(tt.docs[i]) })
			for _, c := range cols {
				c.Release()
			}
			objects, skipped := in.Documents()
			if len(failed) > skipped || objects+skipped != len(tt.docs) {
				t.Errorf("%d documents failed to parse (%v); %d were skipped, %d used", len(failed), failed, skipped, objects)
			}
		})
	}
}

func TestJSONInferrerErrors(t *testing.T) {
	for _, tt := range []struct {
		docs []string
		want string
	}{
		{nil, "no JSON documents"},
		{[]string{`[1]`, `x`}, "none of the 2 documents is a JSON object"},
		{[]string{`{}`, `{"a": {}}`}, "the 2 JSON objects have no fields"},
	} {
		var in arrowbatch.JSONInferrer
		for _, d := range tt.docs {
			in.Add([]byte(d))
		}
		if _, err := in.Schema(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.docs, err, tt.want)
		}
	}
}
