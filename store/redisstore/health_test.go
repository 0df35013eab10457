package redisstore

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A failure right after a recovery (a connection the restart broke) is the
// end of the same outage: no second pair of lines. One that lasts is a
// new outage, logged once.
func TestHealthLogsOneLinePerOutageNotPerFlap(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := &health{}
	h.log.Store(zap.New(core))
	fail := errors.New("connection refused")
	for range 50 {
		h.down(fail)
	}
	h.up()
	for range 3 { // flaps: broken pooled connections
		h.down(fail)
		h.up()
	}
	downs, ups := logs.FilterMessageSnippet("unreachable").Len(), logs.FilterMessageSnippet("reachable again").Len()
	t.Logf("one outage and 3 flaps: %d outage lines, %d recovery lines (want 1 and 1)", downs, ups)
	if downs != 1 || ups != 1 {
		t.Errorf("outage lines %d, recovery lines %d, want 1 and 1", downs, ups)
	}

	// A real outage soon after: quiet at first, announced once it lasts.
	h.down(fail)
	h.since.Store(time.Now().Add(-flapWindow).UnixNano())
	h.down(fail)
	h.down(fail)
	h.up()
	downs, ups = logs.FilterMessageSnippet("unreachable").Len(), logs.FilterMessageSnippet("reachable again").Len()
	if downs != 2 || ups != 2 {
		t.Errorf("after a lasting second outage: outage lines %d, recovery lines %d, want 2 and 2", downs, ups)
	}
}
