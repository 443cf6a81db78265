package feedback

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/events"
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
// tools and tests that move the clock.
//
// Deadlines count from the day a comment was made, so the comments that reach a deadline are
// those of whole days: for each kind of deadline the store keeps a mark, the last day whose
// comments were checked, and each check walks the days after it in the by-day index and moves
// the mark in the transaction that queues the events. A comment is therefore reported at most
// once per deadline, however often and from however many goroutines this runs, without an
// extra write per submission; a deadline met in time is simply not reported. A changed
// deadline applies from the next check, to the days after the mark.
//
// A check commits at least every deadlineChunk comments, at the end of a day: the first check
// of a long history (a store from before deadlines, a service down for weeks) is many short
// transactions, not one that holds the writer lock, and every overdue event in memory, for
// all of it (a million comments were 1.3 GB in one transaction).
func (s *Service) CheckDeadlines() (int, error) {
	now := s.cfg.Now()
	total := 0
	for _, k := range []struct {
		kind  store.DeadlineKind
		after time.Duration
	}{{store.DeadlineAck, s.cfg.AckDeadline}, {store.DeadlineResolve, s.cfg.ResolveDeadline}} {
		upTo := today(now.Add(-k.after))
		for done := false; !done; {
			n, scanned := 0, 0
			err := s.host.DB.Update(func(tx *bolt.Tx) error {
				n, scanned = 0, 0
				mark, err := store.DeadlineMark(tx, k.kind)
				if err != nil || (!mark.IsZero() && !upTo.After(mark)) {
					done = true
					return err
				}
				if mark.IsZero() { // the first check: from the day before the oldest comment
					oldest, ok, err := store.OldestDay(tx)
					if err != nil {
						return err
					}
					if !ok || oldest.After(upTo) {
						done = true
						return store.UnsafeSetDeadlineMark(tx, k.kind, upTo)
					}
					mark = oldest.AddDate(0, 0, -1)
				}
				for scanned < deadlineChunk && upTo.After(mark) {
					day := mark.AddDate(0, 0, 1)
					err := store.ScanDayRange(tx, mark, day, func(day time.Time, id string) error {
						scanned++
						sent, err := s.unsafeOverdue(tx, store.Deadline{Due: day.Add(k.after), Kind: k.kind, FeedbackID: id})
						if sent {
							n++
						}
						return err
					})
					if err != nil {
						return err
					}
					mark = day
				}
				done = !upTo.After(mark)
				return store.UnsafeSetDeadlineMark(tx, k.kind, mark)
			})
			if err != nil {
				return total, err
			}
			total += n
			if hook := s.deadlineCommitted.Load(); hook != nil {
				(*hook)(scanned)
			}
		}
	}
	return total, nil
}

// deadlineChunk is about how many comments one transaction of CheckDeadlines checks: it
// commits at the end of the day that reaches it.
const deadlineChunk = 2_000

// unsafeOverdue queues FeedbackOverdue for d if its comment missed it.
func (s *Service) unsafeOverdue(tx *bolt.Tx, d store.Deadline) (bool, error) {
	c, err := store.GetComment(tx, d.FeedbackID)
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
	_, shown, err := s.view(tx, c)
	if err != nil {
		return false, err
	}
	day := today(d.Due)
	ev := &eventsv1.FeedbackOverdue{
		FeedbackId: c.ID, Segment: shown.String(), Deadline: kind, OwnerGroup: c.OwnerGroup,
		Status: c.Status, DueDay: timestamppb.New(day),
	}
	return true, s.unsafePublish(tx, events.FeedbackOverdue, events.OverdueID(c.ID, name), shown, day, ev)
}
