package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
)

func TestRestartKeepsStoreAndURL(t *testing.T) {
	s := natstest.Start(t)
	url := s.ClientURL()
	b := natstest.Connect(t, s)
	ev := bus.Event{ID: "kept", Type: "voix.pulse.responded.v1", Source: "voix/pulse", Subject: "voix.pulse.responded.acme"}
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatalf("publish: %v", err)
	}

	s2 := natstest.Restart(t, s)
	if s2.ClientURL() != url {
		t.Fatalf("restarted on %s, want %s", s2.ClientURL(), url)
	}
	if s.Running() {
		t.Fatal("old server still running after Restart")
	}
	// The existing bus reconnects by itself and sees the stored message.
	deadline := time.Now().Add(10 * time.Second)
	for !b.Conn().IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("bus did not reconnect to the restarted server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var msgs uint64
	for ctx.Err() == nil {
		st, err := b.JetStream().Stream(ctx, events.Pulse.Name)
		if err == nil {
			msgs = st.CachedInfo().State.Msgs
			break
		}
		time.Sleep(20 * time.Millisecond) // JetStream may still be recovering
	}
	if msgs != 1 {
		t.Fatalf("PULSE holds %d messages after restart, want 1", msgs)
	}
}
