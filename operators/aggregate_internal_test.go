package operators

import (
	"bytes"
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/internal/testkit"
)

// aggFuzzSchema has a key of every shape the key codec walks (a struct, an event-time
// timestamp, a string) and inputs for every accumulator.
var aggFuzzSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
	{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true,
		Metadata: arrow.NewMetadata([]string{WatermarkDelayKey}, []string{"10"})},
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

const aggFuzzRows = `[
{"k": {"a": 1, "b": "x\u0000y"}, "t": 5, "i": 3, "u": 4, "x": 1.5, "s": "fox"},
{"k": null, "t": null, "i": null, "u": null, "x": null, "s": null},
{"k": {"a": null, "b": "z"}, "t": -7, "i": -9, "u": 18446744073709551615, "x": -0.0, "s": ""}
]`

// FuzzAggregateState gives the state decoders arbitrary keys and values, as a damaged
// checkpoint would: they must fail with an error, never panic or leak.
func FuzzAggregateState(f *testing.F) {
	op := Aggregate([]string{"k", "t"}, []Agg{
		Count("*"), Count("s"), Sum("i"), Sum("x"), Avg("u"), Min("s"), Max("x"), First("u"), Last("s"),
		ApproxCountDistinct("i"),
	}, Options{}).(*aggregate)
	pl, err := op.plans.get(aggFuzzSchema)
	if err != nil {
		f.Fatal(err)
	}
	if pl.event == nil || pl.event.key != 1 {
		f.Fatalf("event time %+v", pl.event)
	}
	// Seeds: the keys and states of real rows.
	mem := testkit.CheckedAlloc(f)
	rec, _, err := array.RecordFromJSON(mem, aggFuzzSchema, bytes.NewReader([]byte(aggFuzzRows)))
	if err != nil {
		f.Fatal(err)
	}
	defer rec.Release()
	encs := make([]aggKeyEncoder, 2)
	for c := range encs {
		if encs[c], err = newAggKeyEncoder(rec.Column(c)); err != nil {
			f.Fatal(err)
		}
	}
	accs := newAggAccumulators(pl)
	n := int(rec.NumRows())
	gids, rows := make([]uint32, n), make([]int32, n)
	for r := range n {
		gids[r], rows[r] = uint32(r), int32(r)
	}
	for j, acc := range accs {
		acc.grow(n)
		var v *aggValues
		if in := pl.aggs[j].in; in != nil {
			v = newAggValues(rec.Column(in.col))
		}
		if err := acc.update(gids, rows, v); err != nil {
			f.Fatal(err)
		}
	}
	for r := range n {
		var key []byte
		for _, enc := range encs {
			key = enc(key, r)
		}
		val, err := encodeAggState(nil, pl, accs, uint32(r))
		if err != nil {
			f.Fatal(err)
		}
		check := newAggAccumulators(pl)
		for _, acc := range check {
			acc.grow(1)
		}
		if err := mergeAggState(pl, check, 0, val); err != nil {
			f.Fatalf("seed %d: %v", r, err)
		}
		f.Add(key, val)
	}
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, key, val []byte) {
		mem := testkit.CheckedAlloc(t)
		ctx := WithAllocator(context.Background(), mem)
		accs := newAggAccumulators(pl)
		for _, acc := range accs {
			acc.grow(1)
		}
		merged := mergeAggState(pl, accs, 0, val) == nil
		_, _, _ = aggEventTimeOfKey(key, pl.event)
		_ = formatAggKey(pl, key)
		emitted := 0
		err := emitAggGroups(ctx, pl, 1, func(int) ([]byte, []aggAccumulator, uint32) { return key, accs, 0 }, func(b arrow.RecordBatch) error {
			emitted += int(b.NumRows())
			return nil
		})
		if err == nil && emitted != 1 {
			t.Errorf("emitted %d rows", emitted)
		}
		if merged {
			// A state that decodes encodes again into one that decodes.
			again, err := encodeAggState(nil, pl, accs, 0)
			if err != nil {
				t.Fatal(err)
			}
			fresh := newAggAccumulators(pl)
			for _, acc := range fresh {
				acc.grow(1)
			}
			if err := mergeAggState(pl, fresh, 0, again); err != nil {
				t.Errorf("re-encoded state %x does not decode: %v", again, err)
			}
		}
	})
}

// TestAggregateKeyOrder checks that encoded keys order as their values, for values that differ
// in the bytes the escaping and the float transform touch.
func TestAggregateKeyOrder(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	b := array.NewStringBuilder(mem)
	vals := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "ab", "\xff", "\xff\x00"}
	for _, v := range vals {
		b.Append(v)
	}
	arr := b.NewArray()
	b.Release()
	defer arr.Release()
	enc, err := newAggKeyEncoder(arr)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newAggKeyDecoder(arr.DataType())
	if err != nil {
		t.Fatal(err)
	}
	out := array.NewStringBuilder(mem)
	defer out.Release()
	var prev []byte
	for i, v := range vals {
		key := enc(nil, i)
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			t.Errorf("key of %q (%x) does not sort after the previous (%x)", v, key, prev)
		}
		prev = key
		rest, err := dec(out, key)
		if err != nil || len(rest) != 0 {
			t.Errorf("decode %q: rest %x, %v", v, rest, err)
		}
	}
	got := out.NewStringArray()
	defer got.Release()
	for i, v := range vals {
		if got.Value(i) != v {
			t.Errorf("decoded %q; want %q", got.Value(i), v)
		}
	}
}
