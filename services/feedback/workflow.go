package feedback

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

// Statuses, short.
const (
	statusNew        = commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW
	statusAck        = commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED
	statusInProgress = commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS
	statusResolved   = commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED
	statusDeclined   = commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED
)

// transitions lists the legal next statuses. The main road is NEW → ACKNOWLEDGED → IN_PROGRESS
// → RESOLVED | DECLINED. Two shortcuts are legal because they happen and skipping a step is
// still an honest answer: an acknowledged comment may be RESOLVED or DECLINED at once (a quick
// fix, or a clear no), and a NEW comment may be DECLINED (someone read it and says why not; that
// counts as its acknowledgement too). A NEW comment cannot jump to IN_PROGRESS or RESOLVED: the
// author must first hear that someone read it, and time to acknowledge must be measured.
// RESOLVED and DECLINED are final: reopening would rewrite the answer the author already read;
// a follow-up in the thread is the way to say it was not enough.
var transitions = map[commonv1.FeedbackStatus][]commonv1.FeedbackStatus{
	statusNew:        {statusAck, statusDeclined},
	statusAck:        {statusInProgress, statusResolved, statusDeclined},
	statusInProgress: {statusResolved, statusDeclined},
}

func legal(from, to commonv1.FeedbackStatus) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func closed(st commonv1.FeedbackStatus) bool { return st == statusResolved || st == statusDeclined }

// today is the day of now: the only time kept for anything a comment's author did or was told.
func today(now time.Time) time.Time { return window.Of(window.Day, now).Start }

// unsafeAppend adds m as the next message of c's thread and marks c updated on its day. The
// caller stores c afterwards.
func unsafeAppend(tx store.WriteTx, c *store.Comment, m *store.Message) (uint32, error) {
	c.MessageCount++
	c.UpdateDay = m.Day
	return c.MessageCount, store.UnsafeAddMessage(tx, c.ID, c.MessageCount, m)
}

// updateStatus moves a comment along the workflow, adds the note to its thread and queues
// FeedbackStatusChanged, in one transaction.
func (s *Service) updateStatus(ctx context.Context, id string, to commonv1.FeedbackStatus, note string) (*feedbackv1.Feedback, error) {
	now := s.cfg.Now()
	day := today(now)
	msgID := rand.Text()
	var out *feedbackv1.Feedback
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		c, _, _, err := s.readable(ctx, tx, id)
		if err != nil {
			return err
		}
		from := c.Status
		if !legal(from, to) {
			return fmt.Errorf("status: %w from %s to %s", errIllegalTransition, from, to)
		}
		c.Status = to
		seq, err := unsafeAppend(tx, c, &store.Message{
			ID: msgID, Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: note, Day: day, Status: to,
		})
		if err != nil {
			return err
		}
		loop, err := store.GetLoop(tx, id)
		if err != nil {
			return err
		}
		if from == statusNew {
			loop.AckDay = day
		}
		if closed(to) {
			loop.CloseDay = day
		}
		if err := store.UnsafePutLoop(tx, id, loop); err != nil {
			return err
		}
		if err := s.unsafePutComment(tx, c); err != nil {
			return err
		}
		// The view after the change: the event names the segment readers see, never a smaller one.
		view, shown, err := s.view(tx, c)
		if err != nil {
			return err
		}
		ev := &eventsv1.FeedbackStatusChanged{
			FeedbackId: id, Segment: shown.String(), From: from, To: to, Note: note,
			OwnerGroup: c.OwnerGroup, ChangedDay: timestamppb.New(day),
		}
		if err := s.unsafePublish(tx, events.FeedbackStatusChanged, events.StatusChangedID(id, uint64(seq)), shown, day, ev); err != nil {
			return err
		}
		out = view
		return nil
	})
	return out, err
}

// unsafePublish queues an event in the outbox of tx. Its time is a day, like its payload's.
func (s *Service) unsafePublish(tx *bolt.Tx, k events.Kind, id string, seg segment.Path, day time.Time, m proto.Message) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k.Type, err)
	}
	return s.host.Outbox.Add(tx, bus.Event{
		ID: id, Type: k.Type, Source: k.Source, Subject: k.Subject(seg),
		Time: day, Data: data,
	})
}

// assignOwner sets a comment's owner group for good: a later scoring does not route it again.
// A new owner is told: FeedbackRouted is queued when the owner group changes (reroute.go).
func (s *Service) assignOwner(ctx context.Context, id, owner string) (*feedbackv1.Feedback, error) {
	var out *feedbackv1.Feedback
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		c, _, _, err := s.readable(ctx, tx, id)
		if err != nil {
			return err
		}
		changed := c.OwnerGroup != owner
		c.OwnerGroup = owner
		loop, err := store.GetLoop(tx, id)
		if err != nil {
			return err
		}
		loop.OwnerByHR = true
		if err := store.UnsafePutLoop(tx, id, loop); err != nil {
			return err
		}
		if err := s.unsafePutComment(tx, c); err != nil {
			return err
		}
		if changed {
			if err := s.unsafeTellOwner(tx, c); err != nil {
				return err
			}
		}
		out, _, err = s.view(tx, c)
		return err
	})
	return out, err
}
