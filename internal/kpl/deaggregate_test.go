package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"sync"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

// wrap frames a protobuf message as an aggregated record: magic, msg, MD5(msg).
func wrap(msg []byte) []byte {
	sum := md5.Sum(msg)
	return append(append(append([]byte{}, magic[:]...), msg...), sum[:]...)
}

// Helpers that encode protobuf fields for hand-made messages.

func str(num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

func msgField(num protowire.Number, parts ...[]byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), bytes.Join(parts, nil))
}

func varint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rec encodes a Record with the usual fields; ehk < 0 leaves explicit_hash_key_index out.
func rec(pk uint64, ehk int64, data string) []byte {
	body := varint(fieldPartitionKeyIndex, pk)
	if ehk >= 0 {
		body = cat(body, varint(fieldExplicitHashKeyIndex, uint64(ehk)))
	}
	return msgField(fieldRecords, body, str(fieldData, data))
}

func ur(sub int, pk, ehk, data string) userRecord {
	return userRecord{sub, pk, optional(ehk), []byte(data)}
}

func TestDeaggregate(t *testing.T) {
	pkA, pkB := str(fieldPartitionKeyTable, "a"), str(fieldPartitionKeyTable, "b")
	ehk0 := str(fieldExplicitHashKeyTable, "42")
	valid := wrap(cat(pkA, pkB, ehk0, rec(0, -1, "x"), rec(1, 0, "y")))
	badMD5 := bytes.Clone(valid)
	badMD5[len(badMD5)-1] ^= 1
	badMagic := bytes.Clone(valid)
	badMagic[3] ^= 1
	emptyMsg := wrap(nil) // 20 bytes: magic + MD5 of nothing

	tests := []struct {
		name string
		data []byte
		want []userRecord // nil: ErrNotAggregated, passed through
	}{
		{name: "valid", data: valid, want: []userRecord{ur(0, "a", "", "x"), ur(1, "b", "42", "y")}},
		{name: "nil", data: nil},
		{name: "shorter than magic", data: magic[:3]},
		{name: "magic only", data: magic[:]},
		{name: "magic and MD5 of empty message", data: emptyMsg},
		{name: "bad MD5", data: badMD5},
		{name: "bad magic", data: badMagic},
		{name: "plain", data: []byte(`{"not":"aggregated"}`)},
		{name: "zero records", data: wrap(cat(pkA)), want: []userRecord{}},
		{name: "unknown fields skipped", want: []userRecord{ur(0, "a", "", "x")}, data: wrap(cat(
			pkA,
			varint(15, 7),
			protowire.AppendFixed32(protowire.AppendTag(nil, 9, protowire.Fixed32Type), 1),
			msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0), varint(99, 1), str(fieldData, "x"),
				protowire.AppendFixed64(protowire.AppendTag(nil, 5, protowire.Fixed64Type), 1)),
			protowire.AppendTag(protowire.AppendTag(nil, 20, protowire.StartGroupType), 20, protowire.EndGroupType),
		))},
		{name: "known field with other wire type is unknown", want: []userRecord{ur(0, "a", "", "x")}, data: wrap(cat(
			varint(fieldPartitionKeyTable, 3), pkA, rec(0, -1, "x"),
		))},
		{name: "records before tables", want: []userRecord{ur(0, "b", "42", "x"), ur(1, "a", "", "y")}, data: wrap(cat(
			rec(1, 0, "x"), rec(0, -1, "y"), pkA, ehk0, pkB,
		))},
		{name: "repeated field takes last value", want: []userRecord{ur(0, "b", "", "second")}, data: wrap(cat(
			pkA, pkB, msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0), str(fieldData, "first"),
				varint(fieldPartitionKeyIndex, 1), str(fieldData, "second")),
		))},
		{name: "tags ignored", want: []userRecord{ur(0, "a", "", "x")}, data: wrap(cat(
			pkA, msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0), str(fieldData, "x"),
				msgField(fieldTags, str(1, "k"), str(2, "v")), msgField(fieldTags, str(1, ""))),
		))},
		{name: "empty keys", want: []userRecord{ur(0, "", "", "x")}, data: wrap(cat(
			str(fieldPartitionKeyTable, ""), str(fieldExplicitHashKeyTable, ""), rec(0, 0, "x"),
		))},
		{name: "tag without key", data: wrap(cat(
			pkA, msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0), str(fieldData, "x"), msgField(fieldTags, str(2, "v"))),
		))},
		{name: "partition key index out of range", data: wrap(cat(pkA, rec(0, -1, "x"), rec(1, -1, "y")))},
		{name: "partition key index 2^32", data: wrap(cat(pkA, rec(1<<32, -1, "x")))},
		{name: "no partition key table", data: wrap(rec(0, -1, "x"))},
		{name: "explicit hash key index out of range", data: wrap(cat(pkA, ehk0, rec(0, 1, "x")))},
		{name: "missing partition key index", data: wrap(cat(pkA, msgField(fieldRecords, str(fieldData, "x"))))},
		{name: "missing data", data: wrap(cat(pkA, msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0))))},
		{name: "partition key index as bytes", data: wrap(cat(pkA, msgField(fieldRecords, str(fieldPartitionKeyIndex, ""), str(fieldData, "x"))))},
		{name: "truncated length", data: wrap(cat(pkA, rec(0, -1, "x"))[:5])},
		{name: "truncated varint", data: wrap(cat(pkA, []byte{0x18, 0x80}))},
		{name: "field number 0", data: wrap(cat(pkA, []byte{0x00, 0x00}))},
		{name: "wire type 6", data: wrap(cat(pkA, []byte{0x0e}))},
		{name: "end group at top level", data: wrap(cat(pkA, protowire.AppendTag(nil, 20, protowire.EndGroupType)))},
		{name: "unterminated group", data: wrap(cat(pkA, protowire.AppendTag(nil, 20, protowire.StartGroupType)))},
		{name: "mismatched group end", data: wrap(cat(pkA,
			protowire.AppendTag(protowire.AppendTag(nil, 20, protowire.StartGroupType), 21, protowire.EndGroupType)))},
		{name: "malformed record", data: wrap(cat(pkA, msgField(fieldRecords, []byte{0x08})))},
		{name: "malformed record tag", data: wrap(cat(pkA, msgField(fieldRecords, []byte{0x00})))},
		{name: "malformed tag", data: wrap(cat(
			pkA, msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0), str(fieldData, "x"), msgField(fieldTags, []byte{0x0a})),
		))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deliver(tt.data, "outer")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = []userRecord{{0, "outer", nil, tt.data}}
			}
			if diff := cmp.Diff(want, got, cmpRecords); diff != "" {
				t.Errorf("user records (-want +got):\n%s", diff)
			}
			if got, want := IsAggregated(tt.data), tt.want != nil; got != want {
				t.Errorf("IsAggregated = %v, want %v", got, want)
			}
			// The properties the fuzzer checks, including agreement with the reference parser.
			if len(tt.data) >= overhead && [magicSize]byte(tt.data) == magic && md5.Sum(tt.data[magicSize:len(tt.data)-digestSize]) == [digestSize]byte(tt.data[len(tt.data)-digestSize:]) {
				checkDeaggregate(t, tt.data, tt.data[magicSize:len(tt.data)-digestSize])
			} else {
				checkDeaggregate(t, tt.data, nil)
			}
		})
	}
}

func TestDeaggregateCallbackError(t *testing.T) {
	_, data := readVector(t, "agg-5-distinct-pk-ehk")
	stop := errors.New("stop")
	calls := 0
	n, err := Deaggregate(data, func(sub int, _, _ string, _ []byte) error {
		calls++
		if sub == 2 {
			return stop
		}
		return nil
	})
	if err != stop { //nolint:errorlint // returned as is, not wrapped
		t.Errorf("err = %v, want the callback's error itself", err)
	}
	if n != 2 || calls != 3 {
		t.Errorf("n = %d after %d calls, want 2 after 3", n, calls)
	}
}

func TestDeaggregateZeroCopy(t *testing.T) {
	_, data := readVector(t, "agg-100x1k")
	orig := bytes.Clone(data)
	_, err := Deaggregate(data, func(_ int, _, _ string, payload []byte) error {
		if !within(payload, data) {
			t.Fatalf("payload is not a sub-slice of data")
		}
		if cap(payload) != len(payload) {
			t.Fatalf("cap(payload) = %d, want len %d", cap(payload), len(payload))
		}
		_ = append(payload, 'X') // must not write into data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, orig) {
		t.Error("Deaggregate or an append to a payload modified data")
	}
}

// within reports whether sub lies inside b's memory.
func within(sub, b []byte) bool {
	if len(sub) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= lo && p+uintptr(len(sub)) <= lo+uintptr(len(b))
}

func TestDeaggregateAllocs(t *testing.T) {
	noop := func(int, string, string, []byte) error { return nil }
	tests := []struct {
		name string
		max  float64
	}{
		{"agg-5-distinct-pk-ehk", 1}, // the key strings; the table is on the stack
		{"agg-100x1k", 2},            // the key strings and the table
		{"neg-bad-md5", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, data := readVector(t, tt.name)
			if got := testing.AllocsPerRun(100, func() { _, _ = Deaggregate(data, noop) }); got > tt.max {
				t.Errorf("Deaggregate: %v allocations, want at most %v", got, tt.max)
			}
			if got := testing.AllocsPerRun(100, func() { _ = IsAggregated(data) }); got != 0 {
				t.Errorf("IsAggregated: %v allocations, want 0", got)
			}
		})
	}
}

func TestDeaggregateConcurrent(t *testing.T) {
	v, data := readVector(t, "agg-100x1k")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := deliver(data, "")
			if err != nil {
				t.Error(err)
				return
			}
			if diff := cmp.Diff(v.UserRecords, got, cmpRecords); diff != "" {
				t.Errorf("user records (-want +got):\n%s", diff)
			}
		})
	}
	wg.Wait()
}

func BenchmarkDeaggregate(b *testing.B) {
	for _, name := range []string{"agg-100x1k", "agg-5-distinct-pk-ehk"} {
		b.Run(name, func(b *testing.B) {
			data, err := readBin(name)
			if err != nil {
				b.Fatal(err)
			}
			var total int
			fn := func(_ int, pk, _ string, payload []byte) error {
				total += len(pk) + len(payload)
				return nil
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Deaggregate(data, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIsAggregated(b *testing.B) {
	data, err := readBin("agg-100x1k")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if !IsAggregated(data) {
			b.Fatal("not aggregated")
		}
	}
}
