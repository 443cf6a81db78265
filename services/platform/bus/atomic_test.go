package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/segment"
)

func TestPublishAtomic(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ctx := context.Background()
	var evs []bus.Event
	for i := range 50 {
		evs = append(evs, testEvent(fmt.Sprintf("atomic-%02d", i)))
	}
	if err := b.PublishAtomic(ctx, evs); err != nil {
		t.Fatalf("publish atomic: %v", err)
	}
	st, err := b.JetStream().Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	if n := count(); n != uint64(len(evs)) {
		t.Fatalf("stream holds %d messages, want %d", n, len(evs))
	}
	for i, ev := range evs {
		m, err := st.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("ce-id") != ev.ID || m.Header.Get("Nats-Msg-Id") != ev.ID {
			t.Fatalf("message %d is %s, want %s (order)", i+1, m.Header.Get("ce-id"), ev.ID)
		}
	}

	// A republish (a crash between the ack and the outbox's delete): the batch holds ids
	// already stored, so the server refuses all of it and stores nothing.
	again := append([]bus.Event{testEvent("atomic-new")}, evs[:3]...)
	if err := b.PublishAtomic(ctx, again); !errors.Is(err, bus.ErrAtomicRefused) {
		t.Fatalf("atomic batch with stored ids: %v, want ErrAtomicRefused", err)
	}
	if n := count(); n != uint64(len(evs)) {
		t.Fatalf("after a refused batch the stream holds %d messages, want %d", n, len(evs))
	}

	// The next batch is taken again, and carries the same batch id as the first: the server
	// keeps the id in every message, so it must not single out the events committed together.
	if err := b.PublishAtomic(ctx, []bus.Event{testEvent("later-1"), testEvent("later-2")}); err != nil {
		t.Fatalf("atomic batch after a refused one: %v", err)
	}
	if n := count(); n != uint64(len(evs)+2) {
		t.Fatalf("stream holds %d messages, want %d", n, len(evs)+2)
	}
	first, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.GetMsg(ctx, uint64(len(evs)+2))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.Header.Get("Nats-Batch-Id"), last.Header.Get("Nats-Batch-Id"); a == "" || a != b {
		t.Fatalf("batch ids %q and %q: want one constant id, not one per batch", a, b)
	}

	// One stream per batch.
	other := testEvent("pulse-1")
	other.Subject = events.PulseResponded.Subject(segment.MustParse("acme/eng"))
	if err := b.PublishAtomic(ctx, []bus.Event{testEvent("x1"), other}); err == nil {
		t.Fatal("atomic batch across two streams: nil error")
	}
}
