package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
)

func testEvent(id string) bus.Event {
	return bus.Event{
		ID:      id,
		Type:    "voix.feedback.submitted.v1",
		Source:  "voix/feedback",
		Subject: "voix.feedback.submitted.acme.eng",
		Time:    time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC),
		Data:    []byte{0x0a, 0x02, 'h', 'i'},
	}
}

func TestEnsureStreams(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s) // ensures once
	ctx := context.Background()
	if err := b.EnsureStreams(ctx); err != nil { // and again: idempotent
		t.Fatalf("ensure again: %v", err)
	}
	for _, want := range []struct{ name, subj string }{
		{events.Feedback.Name, "voix.feedback.>"},
		{events.Pulse.Name, "voix.pulse.>"},
		{events.Sentiment.Name, "voix.sentiment.>"},
	} {
		st, err := b.JetStream().Stream(ctx, want.name)
		if err != nil {
			t.Fatalf("stream %s: %v", want.name, err)
		}
		c := st.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != want.subj {
			t.Errorf("%s subjects = %v, want [%s]", want.name, c.Subjects, want.subj)
		}
		if c.Storage != jetstream.FileStorage || c.Duplicates != bus.DuplicateWindow || c.MaxAge != 0 || c.Replicas != 1 {
			t.Errorf("%s config: storage %v, duplicates %v, max age %v, replicas %d", want.name, c.Storage, c.Duplicates, c.MaxAge, c.Replicas)
		}
	}
}

func TestPublishRoundTrip(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ctx := context.Background()
	ev := testEvent("01JABCDEF")
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
	// A repeat within the duplicate window is a success and stores nothing.
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatalf("publish duplicate: %v", err)
	}
	st, err := b.JetStream().Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	raw, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatalf("get msg: %v", err)
	}
	wantHdr := map[string]string{
		"Nats-Msg-Id":    ev.ID,
		"ce-specversion": "1.0",
		"ce-id":          ev.ID,
		"ce-type":        ev.Type,
		"ce-source":      ev.Source,
		"ce-time":        "2026-03-04T00:00:00Z", // the day only: no event carries an instant
		"content-type":   "application/protobuf",
	}
	for k, v := range wantHdr {
		if got := raw.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}

	// Consume it back and decode the envelope.
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	got, err := bus.EventFromMsg(m)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.ID != ev.ID || got.Type != ev.Type || got.Source != ev.Source || got.Subject != ev.Subject ||
		!got.Time.Equal(bus.Day(ev.Time)) || !bytes.Equal(got.Data, ev.Data) {
		t.Fatalf("decoded %+v, want %+v", got, ev)
	}
}

func TestPublishValidates(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	for _, tc := range []struct {
		field string
		edit  func(*bus.Event)
	}{
		{"ID", func(e *bus.Event) { e.ID = "" }},
		{"Type", func(e *bus.Event) { e.Type = "" }},
		{"Source", func(e *bus.Event) { e.Source = "" }},
		{"Subject", func(e *bus.Event) { e.Subject = "" }},
		{"Subject", func(e *bus.Event) { e.Subject = "voix.feedback.>" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			ev := testEvent("x")
			tc.edit(&ev)
			err := b.Publish(context.Background(), ev)
			if !errors.Is(err, bus.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("publish: %v, want ErrInvalidEvent naming %s", err, tc.field)
			}
		})
	}
}

func TestPublishOutsideStreamsFails(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ev := testEvent("x")
	ev.Subject = "elsewhere.x"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Publish(ctx, ev); err == nil {
		t.Fatal("publish to a subject no stream captures succeeded, want an error (no ack)")
	}
}

func TestEventFromNATSMsgRejectsBadEnvelopes(t *testing.T) {
	for name, h := range map[string]nats.Header{
		"no id":    {"ce-type": []string{"t"}},
		"no type":  {"ce-id": []string{"a"}},
		"bad time": {"ce-id": []string{"a"}, "ce-type": []string{"t"}, "ce-time": []string{"yesterday"}},
	} {
		if _, err := bus.EventFromNATSMsg(&nats.Msg{Subject: "s", Header: h}); !errors.Is(err, bus.ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
	// Nats-Msg-Id alone is enough for the id.
	h := nats.Header{}
	h.Set("Nats-Msg-Id", "m")
	h.Set("ce-type", "t")
	ev, err := bus.EventFromNATSMsg(&nats.Msg{Subject: "s", Header: h})
	if err != nil || ev.ID != "m" {
		t.Fatalf("decode with Nats-Msg-Id only: %+v, %v", ev, err)
	}
}

func TestConnect(t *testing.T) {
	if _, err := bus.Connect(context.Background(), bus.Config{}); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("connect without URL: %v, want an error naming URL", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := natstest.Start(t)
	if _, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("connect with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestPublishBatch(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ctx := context.Background()
	var evs []bus.Event
	for i := range 50 {
		evs = append(evs, testEvent(string(rune('A'+i%26))+strings.Repeat("x", i/26)))
	}
	n, err := b.PublishBatch(ctx, evs)
	if err != nil || n != len(evs) {
		t.Fatalf("publish batch: %d, %v", n, err)
	}
	// Again: all duplicates, all acknowledged, nothing new stored.
	if n, err := b.PublishBatch(ctx, evs); err != nil || n != len(evs) {
		t.Fatalf("publish batch again: %d, %v", n, err)
	}
	st, err := b.JetStream().Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.State.Msgs != uint64(len(evs)) {
		t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, len(evs))
	}
	for i, ev := range evs {
		m, err := st.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatalf("get %d: %v", i+1, err)
		}
		if m.Header.Get("ce-id") != ev.ID {
			t.Fatalf("message %d is %s, want %s (order)", i+1, m.Header.Get("ce-id"), ev.ID)
		}
	}

	// An invalid event stops the batch: the ones before it are acknowledged.
	bad := []bus.Event{testEvent("ok1"), testEvent("ok2"), {ID: "bad"}, testEvent("never")}
	n, err = b.PublishBatch(ctx, bad)
	if n != 2 || !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("batch with an invalid event: %d, %v; want 2, ErrInvalidEvent", n, err)
	}

	// NATS down: nothing acknowledged, an error.
	natstest.Stop(s)
	n, err = b.PublishBatch(ctx, []bus.Event{testEvent("down")})
	if n != 0 || err == nil {
		t.Fatalf("batch with NATS down: %d, %v; want 0 and an error", n, err)
	}
}

// TestEnsureStreamsKeepsEventsForTheRetention: events carry item ids and contributor tags, and
// JetStream stamps each with its exact receive time, so the streams keep them for the
// configured retention only. A restart with another retention updates the streams.
func TestEnsureStreamsKeepsEventsForTheRetention(t *testing.T) {
	s := natstest.Start(t)
	ctx := context.Background()
	for _, retention := range []time.Duration{bus.DefaultRetention, 48 * time.Hour} {
		b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Retention: retention})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureStreams(ctx); err != nil {
			t.Fatalf("ensure streams with retention %v: %v", retention, err)
		}
		for _, name := range []string{events.Feedback.Name, events.Pulse.Name, events.Sentiment.Name} {
			st, err := b.JetStream().Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.CachedInfo().Config.MaxAge; got != retention {
				t.Errorf("%s keeps events for %v, want %v", name, got, retention)
			}
		}
		b.Close()
	}
}

// TestCountCountsOneKindOverEverySegment: Count adds up a kind's messages across segments and
// leaves out the other kinds of the same stream.
func TestCountCountsOneKindOverEverySegment(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ctx := context.Background()
	for i, subj := range []string{"voix.feedback.submitted.acme.eng", "voix.feedback.submitted.acme.ops", "voix.feedback.submitted.acme.eng", "voix.feedback.routed.acme.eng"} {
		ev := testEvent(fmt.Sprintf("id-%d", i))
		ev.Subject = subj
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	got, err := bus.Count(ctx, b.JetStream(), events.FeedbackSubmitted)
	if err != nil || got != 3 {
		t.Fatalf("Count(FeedbackSubmitted) = %d, %v; want 3 of the 4 messages", got, err)
	}
}
