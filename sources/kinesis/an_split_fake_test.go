package kinesis

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFakeAvailableNowSplitSmallBuffer runs AvailableNow as the pipeline does (AwaitAvailableNowBatch,
// then a batch) over a stream whose shard split, with a buffer of about one answer: the
// children become readable only once the parent's end is committed, and are read in the same run.
// Children's records whose arrival time is at or after the recorded time (as kinesalite stamps
// the records written to a child in the first second after a split: the child's creation time,
// up to a second ahead) are left to the next run, which reads them.
func TestFakeAvailableNowSplitSmallBuffer(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("childrenArriveLater=%v", late), func(t *testing.T) {
			f := newFakeAPI()
			f.create("s", 2)
			past := time.Now().Add(-time.Minute)
			for i := range 2 {
				id := fmt.Sprintf("shardId-%012d", i)
				for j := range 75 {
					f.put("s", id, past, "k", []byte(fmt.Sprintf("a-%d-%02d-%s", i, j, strings.Repeat("x", 40))))
				}
			}
			c1, c2 := f.split("s", "shardId-000000000000")
			childArrival := past
			if late {
				childArrival = time.Now().Add(time.Hour)
			}
			for j := range 40 {
				f.put("s", c1, childArrival, "k", []byte(fmt.Sprintf("b-c1-%02d", j)))
				f.put("s", c2, childArrival, "k", []byte(fmt.Sprintf("b-c2-%02d", j)))
			}
			o := fakeOptions(f, "s")
			o.InitialPosition = InitialPosition{Kind: TrimHorizon}
			o.MaxRecordsPerFetch = 10
			o.FetchBufferSize = 800 // about one answer (10 records of ~50 bytes)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			run := func(cur []byte) ([]row, []byte) {
				s, _ := openSource(t, o)
				defer s.Close(context.Background())
				if err := s.PrepareForAvailableNow(ctx); err != nil {
					t.Fatal(err)
				}
				if cur == nil {
					var err error
					if cur, err = s.InitialOffset(ctx); err != nil {
						t.Fatal(err)
					}
				}
				var rows []row
				for {
					if err := s.AwaitAvailableNowBatch(ctx, cur); err != nil {
						t.Fatal(err)
					}
					got, end := step(t, ctx, s, cur)
					if bytes.Equal(end, cur) {
						return rows, cur
					}
					rows = append(rows, got...)
					cur = end
				}
			}
			rows, cur := run(nil)
			children := 0
			for _, r := range rows {
				if strings.HasPrefix(r.Data, "b-") {
					children++
				}
			}
			if want := 150 + 80; !late && (len(rows) != want || children != 80) {
				t.Fatalf("%d rows (%d of the children), want %d (80)", len(rows), children, want)
			}
			if late && (len(rows) != 150 || children != 0) {
				t.Fatalf("%d rows (%d of the children), want the 150 of the parents", len(rows), children)
			}
			if !late {
				return
			}
			// The next run, once the children's records have arrived, reads them.
			f.mu.Lock()
			for _, st := range f.streams {
				for _, sh := range st.shards {
					for i := range sh.recs {
						if sh.recs[i].ApproximateArrivalTimestamp.After(time.Now()) {
							sh.recs[i].ApproximateArrivalTimestamp = &past
						}
					}
				}
			}
			f.mu.Unlock()
			rows, _ = run(cur)
			if len(rows) != 80 {
				t.Fatalf("second run: %d rows, want the children's 80", len(rows))
			}
		})
	}
}
