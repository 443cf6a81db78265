package pulse_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

func (f *fixture) upsertSegment(t testing.TB, path string, headcount uint32) *pulsev1.Segment {
	t.Helper()
	resp, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: path, Headcount: headcount})
	if err != nil {
		t.Fatalf("UpsertSegment(%s, %d): %v", path, headcount, err)
	}
	return resp.Segment
}

// segmentEvent reads version version of path's SegmentUpserted event from the PULSE stream.
func segmentEvent(t testing.TB, f *fixture, path string, version uint64) *eventsv1.SegmentUpserted {
	t.Helper()
	for _, msg := range streamEvents(t, f, events.PulseSegmentUpserted.Subject(segment.MustParse(path))) {
		if msg.Headers().Get(bus.HeaderMsgID) != events.SegmentUpsertedID(path, version) {
			continue
		}
		if typ, src := msg.Headers().Get(bus.HeaderType), msg.Headers().Get(bus.HeaderSource); typ != events.PulseSegmentUpserted.Type || src != events.PulseSegmentUpserted.Source {
			t.Fatalf("SegmentUpserted %s v%d: type %q source %q", path, version, typ, src)
		}
		var ev eventsv1.SegmentUpserted
		if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("decode SegmentUpserted: %v", err)
		}
		return &ev
	}
	t.Fatalf("no SegmentUpserted %s on %s", events.SegmentUpsertedID(path, version), path)
	return nil
}

// The segment registry publishes every change of a headcount, with a version that increases
// per segment, from the transaction that stores it; setting a headcount a segment already has
// publishes nothing. Versions survive a restart.
func TestUpsertSegmentPublishesVersions(t *testing.T) {
	f := start(t)
	f.upsertSegment(t, "acme/eng", 42)
	msg := nextEvent(t, f, events.PulseSegmentUpserted.Subject(segment.MustParse("acme/eng")))
	h := msg.Headers()
	for k, want := range map[string]string{
		bus.HeaderMsgID:  events.SegmentUpsertedID("acme/eng", 1),
		bus.HeaderType:   events.PulseSegmentUpserted.Type,
		bus.HeaderSource: events.PulseSegmentUpserted.Source,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var first eventsv1.SegmentUpserted
	if err := proto.Unmarshal(msg.Data(), &first); err != nil {
		t.Fatalf("decode SegmentUpserted: %v", err)
	}
	if want := (&eventsv1.SegmentUpserted{Path: "acme/eng", Headcount: 42, Version: 1}); !proto.Equal(&first, want) {
		t.Fatalf("SegmentUpserted = %v, want %v", &first, want)
	}

	f.clock.Set(t0.Add(time.Hour))
	if again := f.upsertSegment(t, "acme/eng", 42); again.Headcount != 42 || !again.UpdateTime.AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("same headcount again = %v, want 42 set at %v", again, t0.Add(time.Hour))
	}
	f.upsertSegment(t, "acme/eng/web", 0) // never counted: 0 is no change either
	f.upsertSegment(t, "acme/eng", 43)
	f.upsertSegment(t, "acme/eng/web", 15)
	f.upsertSegment(t, "acme/eng", 0) // unregisters: a change too
	want := []string{
		events.SegmentUpsertedID("acme/eng", 1),
		events.SegmentUpsertedID("acme/eng", 2),
		events.SegmentUpsertedID("acme/eng/web", 1),
		events.SegmentUpsertedID("acme/eng", 3),
	}
	eventIDs(t, f, events.PulseSegmentUpserted.All(), len(want))
	// The relay publishes the outbox in order: an event from a call that changed nothing
	// would be among these, before the last one.
	if got := publishedIDs(t, f, events.PulseSegmentUpserted.All()); !slices.Equal(got, want) {
		t.Fatalf("SegmentUpserted events %v, want %v", got, want)
	}
	if ev := segmentEvent(t, f, "acme/eng", 3); ev.Headcount != 0 || ev.Version != 3 {
		t.Fatalf("acme/eng v3 = %v, want headcount 0", ev)
	}
	if ev := segmentEvent(t, f, "acme/eng/web", 1); ev.Headcount != 15 {
		t.Fatalf("acme/eng/web v1 = %v, want headcount 15", ev)
	}

	f.restart(t, nil)
	f.upsertSegment(t, "acme/eng", 44)
	want = append(want, events.SegmentUpsertedID("acme/eng", 4))
	eventIDs(t, f, events.PulseSegmentUpserted.All(), len(want))
	if got := publishedIDs(t, f, events.PulseSegmentUpserted.All()); !slices.Equal(got, want) {
		t.Fatalf("SegmentUpserted events after a restart %v, want %v", got, want)
	}
}
