package kpl

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FuzzDeaggregate checks, for arbitrary data and for arbitrary data framed as an aggregate (so
// that the fuzzer reaches the protobuf parser past the MD5 check), that Deaggregate
//
//   - never panics, and fails only with ErrNotAggregated (before any call of fn) or fn's error;
//   - agrees with IsAggregated;
//   - numbers user records 0, 1, 2, ... and returns payloads that lie within data;
//   - decodes what the protobuf runtime's reference parser decodes (a differential test);
//   - decodes its own Aggregator's output of the user records back to the same user records.
func FuzzDeaggregate(f *testing.F) {
	bins, err := filepath.Glob(filepath.Join(vectorDir, "*.bin"))
	if err != nil || len(bins) == 0 {
		f.Fatalf("no vectors in %s (err %v)", vectorDir, err)
	}
	for _, name := range bins {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 4096 {
			continue // large seeds make the fuzzer's minimization slow and add no coverage
		}
		f.Add(data)
		if len(data) > overhead {
			f.Add(data[magicSize : len(data)-digestSize]) // the message alone, framed by wrap below
		}
	}
	f.Add(cat(str(fieldPartitionKeyTable, "a"), rec(0, -1, "x"), rec(1, 0, "y")))
	f.Add(cat(str(fieldPartitionKeyTable, "a"), msgField(fieldRecords, varint(fieldPartitionKeyIndex, 0),
		str(fieldData, "x"), msgField(fieldTags, str(1, "k"), str(2, "v")))))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDeaggregate(t, data, nil)
		checkDeaggregate(t, wrap(data), data)
	})
}

// checkDeaggregate checks Deaggregate on data. If msg is not nil, data is wrap(msg) and the
// result is compared with the reference parser's.
func checkDeaggregate(t *testing.T, data, msg []byte) {
	var got []input
	n, err := Deaggregate(data, func(sub int, pk, ehk string, payload []byte) error {
		if sub != len(got) {
			t.Fatalf("sub-sequence number %d, want %d", sub, len(got))
		}
		if !within(payload, data) {
			t.Fatalf("payload of %d bytes is not within data", len(payload))
		}
		got = append(got, input{pk, ehk, payload})
		return nil
	})
	aggregated := IsAggregated(data)
	switch {
	case errors.Is(err, ErrNotAggregated):
		if n != 0 || len(got) != 0 {
			t.Fatalf("ErrNotAggregated after %d calls, n = %d", len(got), n)
		}
		if aggregated {
			t.Fatal("IsAggregated is true, Deaggregate returns ErrNotAggregated")
		}
	case err != nil:
		t.Fatalf("Deaggregate: unexpected error %v", err)
	default:
		if n != len(got) {
			t.Fatalf("n = %d after %d calls", n, len(got))
		}
		if !aggregated {
			t.Fatal("IsAggregated is false, Deaggregate decodes")
		}
	}

	if msg != nil {
		want, ok := reference(t, msg)
		if ok != (err == nil) {
			t.Fatalf("reference parser accepts: %v; Deaggregate: %v", ok, err)
		}
		if diff := cmp.Diff(want, got, cmpRecords); diff != "" {
			t.Fatalf("Deaggregate differs from the reference parser (-ref +got):\n%s", diff)
		}
	}
	if err != nil || len(got) == 0 {
		return
	}

	// fn's error comes back as is, after the failing call.
	stop := errors.New("stop")
	last := len(got) - 1
	if n, err := Deaggregate(data, func(sub int, _, _ string, _ []byte) error {
		if sub == last {
			return stop
		}
		return nil
	}); err != stop || n != last { //nolint:errorlint // returned as is
		t.Fatalf("fn fails on record %d: n = %d, err = %v", last, n, err)
	}

	// Round trip through the Aggregator (without its Kinesis key checks: fuzzed keys need not
	// be valid Kinesis keys).
	a := Aggregator{maxSize: math.MaxInt}
	for _, r := range got {
		if err := a.add(r.PartitionKey, r.ExplicitHashKey, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	size := a.Size()
	_, _, again := a.Flush()
	if len(again) != size {
		t.Fatalf("Size() = %d, Flush gives %d bytes", size, len(again))
	}
	var got2 []input
	if _, err := Deaggregate(again, func(_ int, pk, ehk string, payload []byte) error {
		got2 = append(got2, input{pk, ehk, payload})
		return nil
	}); err != nil {
		t.Fatalf("Deaggregate of re-aggregated records: %v", err)
	}
	if diff := cmp.Diff(got, got2, cmpRecords); diff != "" {
		t.Fatalf("re-aggregated user records differ (-first +second):\n%s", diff)
	}
}

// reference decodes msg as an AggregatedRecord with the protobuf runtime (a dynamic message
// built from the KCL's messages.proto) and applies the KCL's rules: the message must be
// non-empty and parse with all required fields, and every index must be in range.
func reference(t *testing.T, msg []byte) (records []input, ok bool) {
	md, err := aggregatedRecordDesc()
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) == 0 {
		return nil, false
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(msg, m); err != nil {
		return nil, false
	}
	fields := md.Fields()
	pks := m.Get(fields.ByName("partition_key_table")).List()
	ehks := m.Get(fields.ByName("explicit_hash_key_table")).List()
	recs := m.Get(fields.ByName("records")).List()
	for i := range recs.Len() {
		r := recs.Get(i).Message()
		rf := r.Descriptor().Fields()
		pk := r.Get(rf.ByName("partition_key_index")).Uint()
		if pk >= uint64(pks.Len()) {
			return nil, false
		}
		var ehk string
		if ehkField := rf.ByName("explicit_hash_key_index"); r.Has(ehkField) {
			i := r.Get(ehkField).Uint()
			if i >= uint64(ehks.Len()) {
				return nil, false
			}
			ehk = ehks.Get(int(i)).String()
		}
		records = append(records, input{pks.Get(int(pk)).String(), ehk, r.Get(rf.ByName("data")).Bytes()})
	}
	return records, true
}

var aggregatedRecordDesc = sync.OnceValues(func() (protoreflect.MessageDescriptor, error) {
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label,
		typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: &name, Number: &num, Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = &typeName
		}
		return f
	}
	const (
		lOptional = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		lRequired = descriptorpb.FieldDescriptorProto_LABEL_REQUIRED
		lRepeated = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		tString   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tUint64   = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		tBytes    = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		tMessage  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("kpl_reference.proto"),
		Package: proto.String("kplreference"),
		Syntax:  proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Tag"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, lRequired, tString, ""),
				field("value", 2, lOptional, tString, ""),
			},
		}, {
			Name: proto.String("Record"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("partition_key_index", 1, lRequired, tUint64, ""),
				field("explicit_hash_key_index", 2, lOptional, tUint64, ""),
				field("data", 3, lRequired, tBytes, ""),
				field("tags", 4, lRepeated, tMessage, ".kplreference.Tag"),
			},
		}, {
			Name: proto.String("AggregatedRecord"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("partition_key_table", 1, lRepeated, tString, ""),
				field("explicit_hash_key_table", 2, lRepeated, tString, ""),
				field("records", 3, lRepeated, tMessage, ".kplreference.Record"),
			},
		}},
	}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		return nil, err
	}
	return file.Messages().ByName("AggregatedRecord"), nil
})
