package feedback

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/marks"
	"github.com/voix-dev/voix/services/platform/window"
)

// ReplicaConfig makes SubmitFeedback's idempotency keys hold across replicas of the service
// (issue 16): each idempotency record is also kept in the JetStream key-value bucket
// MarksBucket, which every replica sees (platform/marks). Empty Name: one replica, no bucket
// (the default).
type ReplicaConfig = marks.Replica

// MarksBucket is the key-value bucket of feedback's cross-replica idempotency records.
const MarksBucket = "voix_marks_feedback"

// startMarks opens the cross-replica records when the service is one of several replicas.
func (s *Service) startMarks() error {
	m, err := marks.Start(s.cfg.Replica, marks.Config{
		JS: s.host.Bus.JetStream(), Bucket: MarksBucket, Replicas: s.cfg.NATS.Replicas,
		DB: s.host.DB, Update: s.commit.Update, Log: s.host.Log,
	}, s.host.Go)
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	s.marks = m
	return nil
}

// claimIdempotency claims the idempotency record idem in the shared bucket before the comment
// is committed. With one replica, or without a key, it returns nothing. When another replica
// stored the same request it returns that comment's receipt (its status as this replica knows
// it, NEW if the comment is another replica's). Unavailable when the record is being written
// by another replica or NATS cannot be reached: nothing may be stored then.
func (s *Service) claimIdempotency(idem []byte, now time.Time) (*marks.Claim, *receipt, error) {
	if s.marks == nil || idem == nil {
		return nil, nil, nil
	}
	// As long as the local record: until the end of the day the TTL ends in.
	keep := window.Of(window.Day, now.Add(s.cfg.IdempotencyTTL)).End.Sub(now)
	c, prev, err := s.marks.Claim(context.Background(), idem, nil, keep)
	switch {
	case err != nil:
		return nil, nil, status.Errorf(codes.Unavailable, "feedback: the idempotency records (NATS key-value bucket %s) cannot be reached: %v", MarksBucket, err)
	case prev == nil:
		if hook := s.afterClaim.Load(); hook != nil {
			if err := (*hook)(); err != nil {
				return nil, nil, err
			}
		}
		return c, nil, nil
	case !prev.Done:
		return nil, nil, status.Errorf(codes.Unavailable, "idempotency_key: a comment with this key is being stored by replica %s; retry in a few seconds", prev.Replica)
	}
	r := &receipt{id: prev.Result, status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW}
	err = s.host.DB.View(func(tx *bolt.Tx) error {
		if c, err := store.GetComment(tx, prev.Result); err == nil {
			r.status = c.Status
		}
		return nil
	})
	return nil, r, err
}

// errClaimExpired refuses a commit that came after the claim could have expired.
var errClaimExpired = status.Error(codes.Unavailable, "feedback: this comment took longer than its claim on the idempotency key to store, and was not stored; retry")

// unsafeMark records the claim in tx, the comment's transaction, with the comment id a retry
// gets, if the claim still holds; the comment must not be stored otherwise.
func unsafeMark(tx *bolt.Tx, c *marks.Claim, id string) error {
	if !c.Live() {
		return errClaimExpired
	}
	return c.UnsafeRecord(tx, id)
}

// settleMark confirms the claim once the comment's transaction committed (or found the key's
// comment stored earlier), or releases it.
func (s *Service) settleMark(c *marks.Claim, stored bool) {
	if c == nil {
		return
	}
	if !stored {
		if err := c.Release(context.Background()); err != nil {
			s.host.Log.Warn("feedback: release an idempotency claim", "err", err)
		}
		return
	}
	if err := c.Confirm(context.Background()); err != nil {
		// The comment is on disk; the settle loop confirms the recorded claim later.
		s.host.Log.Warn("feedback: confirm an idempotency claim (retried by the settle loop)", "err", err)
	}
}

// The service's durable consumers as replicas (events.ReplicaDurable): each replica applies
// every event of the consumers that keep its own store's state, and the replicas share the
// consumers whose effect must happen once in the deployment.
//
//	feedback-scored           per replica  a score or routing lands on the replica holding the
//	                                       comment (the others skip it): the comment is committed
//	                                       with its FeedbackSubmitted in the outbox, so it is
//	                                       stored before sentiment can score it. FeedbackRouted
//	                                       is published by that replica alone.
//	feedback-segments         per replica  every replica places comments by the headcounts.
//	feedback-notify           shared       one delivery per event and target, not one per replica.
//	feedback-survey-comments  shared       a survey comment becomes one comment, on one replica
//	                                       (held there like a submission), routed and told once.

// perReplica is durable's name in this replica: durable itself with one replica.
func (s *Service) perReplica(durable string) string {
	return events.ReplicaDurable(durable, s.cfg.Replica.Name)
}

// appliedAlone wraps h, the handler of the per-replica durable of durable, for a store that
// ran as the only replica before (under durable's plain name): the new durable replays the
// stream from its start, and an event the store applied under the plain name is skipped, not
// applied again (a score applied again would route an old comment by today's rules). With one
// replica it is h.
func (s *Service) appliedAlone(durable string, h consumer.Handler) consumer.Handler {
	if s.cfg.Replica.Name == "" {
		return h
	}
	return func(tx *bolt.Tx, ev bus.Event) error {
		if consumer.Applied(tx, durable, ev.ID) {
			return nil
		}
		return h(tx, ev)
	}
}
