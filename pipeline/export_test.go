package pipeline

import (
	"testing"
	"time"
)

// SetListenerWait shortens how long Start, Stop and AwaitTermination wait for the listeners.
func SetListenerWait(t *testing.T, d time.Duration) {
	old := listenerWait
	listenerWait = d
	t.Cleanup(func() { listenerWait = old })
}
