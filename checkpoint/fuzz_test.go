package checkpoint_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
)

// FuzzReadOffsets feeds arbitrary bytes as offsets/0. Reading never panics and gives either
// a valid Offsets for batch 0 or a *CorruptError naming the file; a valid one reads back the
// same after it is written again.
func FuzzReadOffsets(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"batchId":0,"timestampMs":1,"sources":[{"description":"d","start":{"startMs":1,"rows":0},"end":{"startMs":1,"rows":5}}]}`,
		`{"version":1,"batchId":0,"timestampMs":1,"sources":[],"watermarkMs":5}`,
		"{\n \"version\": 1, \"batchId\": 0, \"sources\": [ { \"start\": [ 1 , 2 ], \"end\": null } ]\n}\n",
		`{"version":1,"batchId":0,"sources":null}`,
		`{"version":2,"batchId":0,"x":1}`,
		`{"version":1,"batchId":1}`,
		`{"version":1,"batchId":0}}`,
		`{"version":1,"batchId":0} 1`,
		`{"version":1,"batchId":0,"sources":[{"start":"\ud800"}]}`,
		`null`, `[]`, `""`, ``, `{`, `{"version":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s := newMemStore(nil)
		s.files["offsets/0"] = data
		l := checkpoint.NewLog(s)
		o, ok, err := l.Offsets(ctx, 0)
		if err != nil {
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *CorruptError: %v", err, err)
			}
			if ce.File != "mem://ckpt/offsets/0" {
				t.Errorf("File = %q", ce.File)
			}
			if ok {
				t.Error("ok is true with an error")
			}
			return
		}
		if !ok {
			t.Fatal("an existing file read as absent")
		}
		if o.Version != checkpoint.Version || o.BatchID != 0 {
			t.Fatalf("accepted version %d batch %d", o.Version, o.BatchID)
		}
		if err := l.WriteOffsets(ctx, o); err != nil {
			t.Fatal(err)
		}
		again, ok, err := l.Offsets(ctx, 0)
		if err != nil || !ok {
			t.Fatalf("reading back %q: %v, %v", s.files["offsets/0"], ok, err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Errorf("Offsets changed through a write and a read (-first +again):\n%s", diff)
		}
	})
}
