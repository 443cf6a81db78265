package feedback

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Headcounts come from the segment registry, which the pulse service owns
// (PulseService.UpsertSegment). The service keeps a copy, applied from the registry's
// SegmentUpserted events, for placement (display.go) and ListSegments.

// Page sizes of ListSegments (feedback.proto).
const (
	defaultSegmentPage = 200
	maxSegmentPage     = 1000
)

// applySegment copies one entry of the segment registry. It runs in the consumer's
// transaction, which also records the event id. The registry's version decides: an event no
// newer than the copy changes nothing, so a redelivered or replayed older event cannot bring
// back a headcount since changed. Headcount 0 unregisters the segment; its record stays, with
// its version, so that an older event does not register it again.
func (s *Service) applySegment(tx *bolt.Tx, ev bus.Event) error {
	var su eventsv1.SegmentUpserted
	if err := proto.Unmarshal(ev.Data, &su); err != nil {
		return fmt.Errorf("decode SegmentUpserted %s: %v: %w", ev.ID, err, consumer.ErrPermanent)
	}
	p, err := segment.Parse(su.Path)
	if err != nil {
		return fmt.Errorf("SegmentUpserted %s: path: %v: %w", ev.ID, err, consumer.ErrPermanent)
	}
	if su.Headcount > maxHeadcount {
		return fmt.Errorf("SegmentUpserted %s: headcount %d above %d: %w", ev.ID, su.Headcount, maxHeadcount, consumer.ErrPermanent)
	}
	old, found, err := store.GetHeadcount(tx, p)
	if err != nil {
		return err
	}
	if found && su.Version <= old.Version {
		return nil
	}
	return store.UnsafePutHeadcount(tx, p, store.Headcount{People: su.Headcount, Version: su.Version})
}

// segmentCount is a registered segment and its headcount.
type segmentCount struct {
	path segment.Path
	n    uint32
}

// listSegments returns up to size registered segments within prefix, in path order, after the
// path after (the zero Path for the first page), and whether more follow.
func (s *Service) listSegments(prefix, after segment.Path, size int) ([]segmentCount, bool, error) {
	var out []segmentCount
	more := false
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		return store.ScanHeadcounts(tx, prefix, after, func(p segment.Path, n uint32) bool {
			if len(out) == size {
				more = true
				return false
			}
			out = append(out, segmentCount{p, n})
			return true
		})
	})
	return out, more, err
}
