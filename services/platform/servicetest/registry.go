package servicetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

// registryVersion numbers the entries RegisterSegment publishes, increasing across an Env's
// calls as the pulse registry's versions do.
var registryVersion atomic.Uint64

// RegisterSegment publishes a headcount as the segment registry (the pulse service) does: a
// SegmentUpserted event on the PULSE stream, which the services that keep a copy (feedback)
// consume. It returns once the stream has stored it; a test then waits for the consumer with
// poll.Until.
func (e *Env) RegisterSegment(t testing.TB, path string, headcount uint32) {
	t.Helper()
	p, err := segment.Parse(path)
	if err != nil {
		t.Fatalf("servicetest: RegisterSegment(%q): %v", path, err)
	}
	v := registryVersion.Add(1)
	data, err := proto.Marshal(&eventsv1.SegmentUpserted{Path: p.String(), Headcount: headcount, Version: v})
	if err != nil {
		t.Fatal(err)
	}
	k := events.PulseSegmentUpserted
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: e.NATS.ClientURL(), Options: []nats.Option{nats.Name("servicetest-registry")}})
	if err != nil {
		t.Fatalf("servicetest: RegisterSegment: %v", err)
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("servicetest: RegisterSegment: %v", err)
	}
	ev := bus.Event{ID: events.SegmentUpsertedID(p.String(), v), Type: k.Type, Source: k.Source, Subject: k.Subject(p), Data: data}
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatalf("servicetest: RegisterSegment(%s, %d): %v", path, headcount, err)
	}
}
