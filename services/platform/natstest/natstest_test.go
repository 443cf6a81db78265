package natstest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

func TestRestartKeepsStoreAndURL(t *testing.T) {
	s := natstest.Start(t)
	url := s.ClientURL()
	b := natstest.Connect(t, s)
	ev := bus.Event{ID: "kept", Type: events.PulseResponded.Type, Source: events.PulseResponded.Source,
		Subject: events.PulseResponded.Subject(segment.MustParse("acme"))}
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
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !b.Conn().IsConnected() {
			return errors.New("bus did not reconnect to the restarted server")
		}
		return nil
	})
	var msgs uint64
	poll.Until(t, 5*time.Second, 20*time.Millisecond, func() error { // JetStream may still be recovering
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := b.JetStream().Stream(ctx, events.Pulse.Name)
		if err != nil {
			return fmt.Errorf("stream %s after restart: %w", events.Pulse.Name, err)
		}
		msgs = st.CachedInfo().State.Msgs
		return nil
	})
	if msgs != 1 {
		t.Fatalf("%s holds %d messages after restart, want 1", events.Pulse.Name, msgs)
	}
}
