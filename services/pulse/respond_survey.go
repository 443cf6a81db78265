package pulse

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// visibleRespondSurvey is visibleSurvey for SubmitResponse, through a memo of the surveys it
// read with their stored bytes: every answer of a wave names the same survey, and decoding it
// (JSON) for each was a tenth of a SubmitResponse's CPU (`voix bench --cpuprofile-phase
// respond`). A survey whose stored bytes changed (closed, a new wave, new settings) is decoded
// again, so the checks see what a fresh read would. The survey returned is shared:
// SubmitResponse only reads it.
func (s *Service) visibleRespondSurvey(ctx context.Context, id string) (*survey, error) {
	if err := s.caughtUp(); err != nil { // replicas: not before the shared surveys are read
		return nil, err
	}
	var sv *survey
	err := s.host.DB.View(func(tx *bolt.Tx) (err error) {
		sv, _, err = s.respondSurvey.get(tx, id)
		return err
	})
	if errors.Is(err, errNotFound) {
		return s.visibleSurvey(ctx, id) // replicas: perhaps created on another one a moment ago
	}
	if err != nil {
		return nil, err
	}
	if !overlaps(ctx, sv.audience) {
		return nil, surveyNotFound(id)
	}
	return sv, nil
}
