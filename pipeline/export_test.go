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

// SetIdleProgressInterval shortens how often an idle query reports progress.
func SetIdleProgressInterval(t *testing.T, d time.Duration) {
	old := idleProgressInterval
	idleProgressInterval = d
	t.Cleanup(func() { idleProgressInterval = old })
}
