package feedback

import (
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/events"
)

// unsafeTellOwner queues FeedbackRouted for c, which has just been given its owner group, on
// the segment c is shown under, so that the notify consumer tells the owner. Its id names the
// comment and the owner (events.RoutedID): telling one owner of one comment twice is one event.
func (s *Service) unsafeTellOwner(tx *bolt.Tx, c *store.Comment) error {
	_, shown, err := s.view(tx, c)
	if err != nil {
		return err
	}
	day := today(s.cfg.Now())
	ev := &eventsv1.FeedbackRouted{
		FeedbackId: c.ID, Segment: shown.String(), OwnerGroup: c.OwnerGroup,
		Dimensions: c.Dimensions, Label: c.SentimentLabel, Risks: c.Risks, RoutedDay: timestamppb.New(day),
	}
	return s.unsafePublish(tx, events.FeedbackRouted, events.RoutedID(c.ID, c.OwnerGroup), shown, day, ev)
}

// unsafeReroute applies the routing rules to the open comments rule r matches (their author's
// segment within r's prefix and, for a rule of a dimension, carrying it), in tx, which has
// stored r already. A comment whose owner group changes gets it and FeedbackRouted. Closed
// comments, comments hr assigned by hand and risk-flagged comments (hr's) are left alone. The
// rules decide as scoring does, without the per-dimension scores a score event carries, so a
// tie between two dimension rules of one depth goes to the lower dimension.
func (s *Service) unsafeReroute(tx *bolt.Tx, r store.Rule) error {
	rules, err := sortedRules(tx)
	if err != nil {
		return err
	}
	var ids []string
	err = store.ScanDays(tx, store.DayPrefix(r.Prefix.Org()), nil, func(k []byte) (bool, error) {
		if _, id, ok := store.SplitDayKey(store.DayPrefix(r.Prefix.Org()), k); ok {
			ids = append(ids, id)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		c, err := store.GetComment(tx, id)
		if err != nil {
			return err
		}
		if closed(c.Status) || len(c.Risks) > 0 || !c.AuthorSegment.Within(r.Prefix) ||
			(r.Dimension != commonv1.Dimension_DIMENSION_UNSPECIFIED && !slices.Contains(c.Dimensions, r.Dimension)) {
			continue
		}
		loop, err := store.GetLoop(tx, id)
		if err != nil {
			return err
		}
		if loop.OwnerByHR {
			continue
		}
		owner := route(rules, c.AuthorSegment, c.Dimensions, nil)
		if owner == "" || owner == c.OwnerGroup {
			continue
		}
		c.OwnerGroup = owner
		if err := s.unsafePutComment(tx, c); err != nil {
			return err
		}
		if err := s.unsafeTellOwner(tx, c); err != nil {
			return err
		}
	}
	return nil
}
