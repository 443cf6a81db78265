package pulse

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// The segment registry: pulse holds the one source of headcounts. Each change of a segment's
// headcount gets the next version of its entry and a SegmentUpserted event in the same
// transaction; the feedback service, and any other that needs headcounts, keeps a copy from
// those events and the highest version it has seen.

// upsertSegment sets path's headcount. Setting the headcount it has already records when it
// was set again, but is no change: the version stays and nothing is published. A segment
// never counted has headcount 0, so setting 0 on it is no change either.
func (s *Service) upsertSegment(path segment.Path, headcount uint32) (store.Segment, error) {
	if s.config != nil {
		return s.upsertSegmentShared(path, headcount) // replicas: one registry (sharedconfig.go)
	}
	now := s.cfg.Now()
	var rec store.Segment
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		cur, _, err := store.GetSegment(tx, path)
		if err != nil {
			return err
		}
		rec = store.Segment{Headcount: headcount, Version: cur.Version, Updated: now}
		if headcount != cur.Headcount {
			rec.Version++
			if err := s.unsafeAnnounceSegment(tx, path, rec); err != nil {
				return err
			}
		}
		return store.UnsafePutSegment(tx, path, rec)
	})
	if err != nil {
		return store.Segment{}, err
	}
	return rec, nil
}

// unsafeAnnounceSegment puts the SegmentUpserted event of path's entry rec in the outbox, in
// tx, the write transaction that stores rec.
func (s *Service) unsafeAnnounceSegment(tx *bolt.Tx, path segment.Path, rec store.Segment) error {
	data, err := proto.Marshal(&eventsv1.SegmentUpserted{Path: path.String(), Headcount: rec.Headcount, Version: rec.Version})
	if err != nil {
		return fmt.Errorf("encode SegmentUpserted: %w", err)
	}
	return s.host.Outbox.Add(tx, bus.Event{
		ID:      events.SegmentUpsertedID(path.String(), rec.Version),
		Type:    events.PulseSegmentUpserted.Type,
		Source:  events.PulseSegmentUpserted.Source,
		Subject: events.PulseSegmentUpserted.Subject(path),
		Time:    rec.Updated,
		Data:    data,
	})
}
