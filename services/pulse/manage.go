package pulse

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// managedSurvey reads a survey the caller may change: visible to them and with an audience
// within their prefix (a manager of a subtree sees an organisation-wide survey but may not
// close it for everyone).
func (s *Service) managedSurvey(ctx context.Context, id string) (*survey, error) {
	sv, err := s.visibleSurvey(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "survey_id", sv.audience.String()); err != nil {
		return nil, err
	}
	return sv, nil
}

// closeSurvey stops future waves and closes the open one now; its WaveClosed event goes out in
// the same transaction. Waves that have not opened yet are dropped: no one answered them.
// Closing a closed survey changes nothing.
func (s *Service) closeSurvey(id string, now time.Time) (*survey, error) {
	if s.config != nil { // replicas: through the shared bucket (sharedconfig.go)
		return s.closeShared(id, now)
	}
	var sv *survey
	err := s.host.DB.Update(func(tx *bolt.Tx) (err error) {
		if sv, err = getSurvey(tx, id); err != nil {
			return err
		}
		if sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED {
			return nil
		}
		// Waves due by now are added first, so that closing does not skip one the scheduler
		// has not run for yet.
		if err := s.unsafeAdvance(tx, sv, now); err != nil {
			return err
		}
		closeWaves(sv, now)
		if err := unsafePutSurvey(tx, sv); err != nil {
			return err
		}
		return s.unsafeAdvance(tx, sv, now)
	})
	if err != nil {
		return nil, err
	}
	s.host.Log.Info("survey closed", "survey", id)
	return sv, nil
}

// closeWaves closes sv at now: the open wave closes now, waves not opened yet are dropped.
func closeWaves(sv *survey, now time.Time) {
	sv.State = pulsev1.SurveyState_SURVEY_STATE_CLOSED
	kept := sv.Waves[:0]
	for _, w := range sv.Waves {
		if now.Before(w.OpensAt.AsTime()) {
			continue
		}
		if now.Before(w.ClosesAt.AsTime()) {
			w.ClosesAt = timestamppb.New(now)
		}
		w.Closed = true
		kept = append(kept, w)
	}
	sv.Waves = kept
}

// settings is a validated UpdateSurveySettings.
type settings struct {
	minGroupSize, commentThreshold *uint32
	liveResults                    *bool
}

// updateSettings applies new settings. k and the comment threshold may change only while the
// survey has no response: results computed under one k and then another could be subtracted
// from each other.
func (s *Service) updateSettings(id string, set settings) (*survey, error) {
	if s.config != nil { // replicas: through the shared bucket (sharedconfig.go)
		return s.updateSettingsShared(id, set, s.cfg.Now())
	}
	var sv *survey
	err := s.host.DB.Update(func(tx *bolt.Tx) (err error) {
		if sv, err = getSurvey(tx, id); err != nil {
			return err
		}
		return applySettings(sv, set, func() (string, error) { return hasResponses(tx, id) }, func() error { return unsafePutSurvey(tx, sv) })
	})
	if err != nil {
		return nil, err
	}
	return sv, nil
}

// applySettings sets set on sv, then calls put. answered says why the survey may have a
// response ("" if it cannot), which fixes k and the comment threshold.
func applySettings(sv *survey, set settings, answered func() (string, error), put func() error) error {
	id := sv.Id
	k, threshold := sv.MinGroupSize, sv.CommentThreshold
	if set.minGroupSize != nil {
		k = *set.minGroupSize
	}
	if set.commentThreshold != nil {
		threshold = *set.commentThreshold
	}
	if k < minGroupSizeFloor {
		return rpcerr.InvalidArgument("min_group_size", fmt.Sprintf("must be at least %d", minGroupSizeFloor))
	}
	if threshold < k {
		return rpcerr.InvalidArgument("comment_threshold", fmt.Sprintf("must be at least min_group_size (%d)", k))
	}
	if k != sv.MinGroupSize || threshold != sv.CommentThreshold {
		why, err := answered()
		if err != nil {
			return err
		}
		if why != "" {
			field := "min_group_size"
			if k == sv.MinGroupSize {
				field = "comment_threshold"
			}
			return fmt.Errorf("%s: %w: survey %s %s, and results already read were suppressed with the current value", field, errSettingsFixed, id, why)
		}
	}
	sv.MinGroupSize, sv.CommentThreshold = k, threshold
	if set.liveResults != nil {
		sv.LiveResults = *set.liveResults
	}
	return put()
}

// hasResponses is applySettings' answered on one store: "has responses" if it has some.
func hasResponses(tx store.ReadTx, id string) (string, error) {
	ok, err := store.HasResponses(tx, id)
	if err != nil || !ok {
		return "", err
	}
	return "has responses", nil
}
