package pulse

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/marks"
)

// ReplicaConfig makes SubmitResponse's one-response-per-wave check hold across replicas of the
// service (issue 16): each marker is also kept in the JetStream key-value bucket MarksBucket,
// which every replica sees (platform/marks). Empty Name: one replica, no bucket (the default).
type ReplicaConfig = marks.Replica

// MarksBucket is the key-value bucket of pulse's cross-replica markers.
const MarksBucket = "voix_marks_pulse"

// startMarks opens the cross-replica markers when the service is one of several replicas.
func (s *Service) startMarks() error {
	m, err := marks.Start(s.cfg.Replica, marks.Config{
		JS: s.host.Bus.JetStream(), Bucket: MarksBucket, Replicas: s.cfg.NATS.Replicas,
		DB: s.host.DB, Update: s.commit.Update, Log: s.host.Log,
	}, s.host.Go)
	if err != nil {
		return fmt.Errorf("pulse: %w", err)
	}
	s.marks = m
	return nil
}

// notAnsweredElsewhere is pending without the surveys whose marker (tags, parallel) is done in
// the shared bucket: answered on another replica. A mark still pending (being stored) keeps
// the survey listed. With one replica, pending as is. NATS unreachable: Unavailable, as for
// SubmitResponse, rather than a list that may offer a survey already answered.
func (s *Service) notAnsweredElsewhere(ctx context.Context, pending []*pulsev1.PendingSurvey, tags [][]byte) ([]*pulsev1.PendingSurvey, error) {
	if s.marks == nil || len(pending) == 0 {
		return pending, nil
	}
	ctx, cancel := context.WithTimeout(ctx, marks.DefaultTimeout)
	defer cancel()
	unreachable := func(err error) error {
		return status.Errorf(codes.Unavailable, "pulse: the one-response-per-wave marks (NATS key-value bucket %s) cannot be reached: %v", MarksBucket, err)
	}
	kv, err := s.host.Bus.JetStream().KeyValue(ctx, MarksBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return pending, nil // no replica has claimed a marker yet
	case err != nil:
		return nil, unreachable(err)
	}
	out := pending[:0]
	for i, p := range pending {
		e, err := kv.Get(ctx, marks.Key(tags[i]))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			out = append(out, p)
			continue
		case err != nil:
			return nil, unreachable(err)
		}
		var m marks.Mark
		if err := json.Unmarshal(e.Value(), &m); err != nil || !m.Done {
			out = append(out, p)
		}
	}
	return out, nil
}

// errRetriedElsewhere says the request was already stored, by another replica.
var errRetriedElsewhere = errors.New("retried on another replica")

// claimMark claims sub's marker in the shared bucket before the response is committed. It
// returns nil (and no error) with one replica; errRetriedElsewhere when another replica stored
// the same request; errAlreadyResponded when the person answered through another request;
// Unavailable when the marker is being written by another replica or NATS cannot be reached.
// Nothing may be stored on an error.
func (s *Service) claimMark(sub submission, marker, idem []byte, now time.Time) (*marks.Claim, error) {
	if s.marks == nil {
		return nil, nil
	}
	// A pulse marker is needed while its wave takes answers (waves only ever close earlier);
	// a lifecycle survey's, for as long as the survey lives.
	var keep time.Duration
	if !lifecycleKind(sub.survey.Kind) && int(sub.wave) <= len(sub.survey.Waves) {
		keep = max(sub.survey.Waves[sub.wave-1].ClosesAt.AsTime().Sub(now)+24*time.Hour, time.Hour)
	}
	c, prev, err := s.marks.Claim(context.Background(), marker, idem, keep)
	switch {
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "pulse: the one-response-per-wave marks (NATS key-value bucket %s) cannot be reached: %v", MarksBucket, err)
	case prev == nil:
		if hook := s.afterClaim.Load(); hook != nil {
			if err := (*hook)(); err != nil {
				return nil, err
			}
		}
		return c, nil
	case !prev.Done:
		return nil, status.Errorf(codes.Unavailable, "submitter_ref: a response of this person to wave %d of survey %s is being stored by replica %s; retry in a few seconds",
			sub.wave, sub.survey.Id, prev.Replica)
	case idem != nil && hmac.Equal(prev.Idem, idem):
		return nil, errRetriedElsewhere
	}
	return nil, fmt.Errorf("submitter_ref: %w: wave %d of survey %s already has a response from this person", errAlreadyResponded, sub.wave, sub.survey.Id)
}

// errClaimExpired refuses a commit that came after the claim could have expired.
var errClaimExpired = status.Error(codes.Unavailable, "pulse: this response took longer than its claim on the marker to store, and was not stored; retry")

// unsafeMark records the claim in tx, the response's transaction, if it still holds; the
// response must not be stored otherwise.
func unsafeMark(tx *bolt.Tx, c *marks.Claim) error {
	if !c.Live() {
		return errClaimExpired
	}
	return c.UnsafeRecord(tx, "")
}

// settleMark confirms the claim once the response's transaction committed (stored is true:
// stored now or found stored earlier) or releases it.
func (s *Service) settleMark(c *marks.Claim, stored bool) {
	if c == nil {
		return
	}
	if !stored {
		if err := c.Release(context.Background()); err != nil {
			s.host.Log.Warn("pulse: release a marker claim", "err", err)
		}
		return
	}
	if err := c.Confirm(context.Background()); err != nil {
		// The response is on disk; the settle loop confirms the recorded claim later.
		s.host.Log.Warn("pulse: confirm a marker claim (retried by the settle loop)", "err", err)
	}
}

// The service's durable consumers as replicas (events.ReplicaDurable):
//
//	pulse-actions  per replica  every replica answers responses with the plans' news ("you
//	                            said, we did"), so every replica keeps every plan's latest
//	                            change (applyPlanNews keeps the highest seq: a replay changes
//	                            nothing).
//
// Pulse has no consumer whose effect must happen once in the deployment.
