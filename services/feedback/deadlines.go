package feedback

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// Event names of deadlines (DESIGN.md, Events).
const (
	typeOverdue    = "voix.feedback.overdue.v1"
	subjectOverdue = "voix.feedback.overdue"
	eventIDOverdue = "feedback.overdue/%s/%s" // feedback id, "acknowledge" or "resolve"
)

// deadlineLoop looks for missed deadlines every DeadlineInterval.
func (s *Service) deadlineLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.DeadlineInterval)
	defer t.Stop()
	for {
		if _, err := s.CheckDeadlines(); err != nil {
			s.host.Log.Error("check deadlines", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckDeadlines queues FeedbackOverdue for every deadline missed at the service's clock and
// returns how many it queued. The service calls it every DeadlineInterval; it is exported for
// tools and tests that move the clock. Each deadline is an entry of the store that is deleted
// in the transaction that queues its event, so a comment is reported overdue at most once per
// deadline, however often and from however many goroutines this runs. A deadline met in time
// (the comment acknowledged, or closed) is dropped without an event when it comes due.
func (s *Service) CheckDeadlines() (int, error) {
	const batch = 256
	now := s.cfg.Now()
	total := 0
	for {
		n, more := 0, false
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			n, more = 0, false
			due, err := store.UnsafeDueDeadlines(tx, now, batch)
			if err != nil {
				return err
			}
			more = len(due) == batch
			for _, d := range due {
				sent, err := s.unsafeOverdue(tx, d)
				if err != nil {
					return err
				}
				if sent {
					n++
				}
				if err := store.UnsafeDeleteDeadline(tx, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// unsafeOverdue queues FeedbackOverdue for d if its comment missed it.
func (s *Service) unsafeOverdue(tx *bolt.Tx, d store.Deadline) (bool, error) {
	c, err := store.UnsafeGetComment(tx, d.FeedbackID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var kind eventsv1.FeedbackOverdue_Deadline
	var name string
	switch d.Kind {
	case store.DeadlineAck:
		if c.Status != statusNew {
			return false, nil
		}
		kind, name = eventsv1.FeedbackOverdue_DEADLINE_ACKNOWLEDGE, "acknowledge"
	case store.DeadlineResolve:
		if closed(c.Status) {
			return false, nil
		}
		kind, name = eventsv1.FeedbackOverdue_DEADLINE_RESOLVE, "resolve"
	default:
		return false, nil
	}
	_, shown, err := s.unsafeView(tx, c)
	if err != nil {
		return false, err
	}
	day := today(d.Due)
	ev := &eventsv1.FeedbackOverdue{
		FeedbackId: c.Id, Segment: shown.String(), Deadline: kind, OwnerGroup: c.OwnerGroup,
		Status: c.Status, DueDay: timestamppb.New(day),
	}
	return true, s.unsafePublish(tx, fmt.Sprintf(eventIDOverdue, c.Id, name), typeOverdue, subjectOverdue, shown, day, ev)
}
