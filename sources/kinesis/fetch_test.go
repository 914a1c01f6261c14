package kinesis

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCloseWhileGettingIterator: Close returns while a prefetching task is asking for a shard
// iterator. Once the source is closed, fetchError drops a failed call without a backoff, so the
// task must notice the closing itself instead of asking again at once, forever.
func TestCloseWhileGettingIterator(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 1)
	f.put("s", "shardId-000000000000", time.Now(), "k", []byte("a"))
	entered, release := make(chan struct{}), make(chan struct{})
	f.hook = func(op string, _ any) error {
		if op != "GetShardIterator" {
			return nil
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	mem := newChecked(t)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), openInfo(t, mem)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitialOffset(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-entered
	closed := make(chan struct{})
	go func() {
		s.Close(context.Background())
		close(closed)
	}()
	time.Sleep(20 * time.Millisecond) // let Close mark the source closed
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
