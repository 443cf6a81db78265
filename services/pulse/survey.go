package pulse

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// createSurvey stores a normalised survey with its first wave, and the WaveOpened event if
// that wave is open already, in one transaction. With an idempotency key, a retry by the same
// caller returns the survey the first call created.
func (s *Service) createSurvey(caller string, req *pulsev1.CreateSurveyRequest, sv *survey, now time.Time) (*survey, error) {
	sv.Id = rand.Text()
	sv.State = pulsev1.SurveyState_SURVEY_STATE_ACTIVE
	sv.CreateTime = timestamppb.New(now)
	sv.Waves = []*pulsev1.Wave{planWave(sv.Survey, 1)}

	var hash []byte
	if req.IdempotencyKey != "" {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req.Survey)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		hash = sum[:]
	}
	if s.config != nil { // replicas: through the shared bucket (sharedconfig.go)
		return s.createShared(caller, req.IdempotencyKey, hash, sv)
	}
	var out *survey
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if req.IdempotencyKey != "" {
			sk, err := store.GetSurveyKey(tx, caller, req.IdempotencyKey)
			switch {
			case err == nil:
				if !bytes.Equal(sk.RequestHash, hash) {
					return fmt.Errorf("idempotency_key: %w: it created survey %s from another request; use a new key", errKeyReused, sk.SurveyID)
				}
				out, err = getSurvey(tx, sk.SurveyID)
				return err
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			if err := store.UnsafePutSurveyKey(tx, caller, req.IdempotencyKey, store.SurveyKey{SurveyID: sv.Id, RequestHash: hash}); err != nil {
				return err
			}
		}
		if err := unsafePutSurvey(tx, sv); err != nil {
			return err
		}
		out = sv
		// Announces wave 1 now if it is open already; the scheduler does otherwise.
		return s.unsafeAdvance(tx, sv, now)
	})
	if err != nil {
		return nil, err
	}
	if out != sv {
		s.host.Log.Info("survey create retried", "survey", out.Id)
	} else {
		s.host.Log.Info("survey created", "survey", sv.Id, "audience", sv.Audience, "caller", caller)
	}
	return out, nil
}

// visibleSurvey reads a survey the caller may see: its audience and the caller's prefix
// overlap (a manager of acme/eng sees the survey sent to all of acme, since it asks their
// people). Any other survey is NotFound, as if it did not exist.
func (s *Service) visibleSurvey(ctx context.Context, id string) (*survey, error) {
	if err := s.caughtUp(); err != nil { // replicas: not before the shared surveys are read
		return nil, err
	}
	sv, err := s.localSurvey(id)
	if errors.Is(err, errNotFound) {
		// Replicas: created on another one a moment ago, not delivered by the watch yet.
		if found, ferr := s.fetchSurvey(id); ferr != nil {
			return nil, ferr
		} else if found {
			sv, err = s.localSurvey(id)
		}
	}
	if err != nil {
		return nil, err
	}
	if !overlaps(ctx, sv.audience) {
		return nil, surveyNotFound(id)
	}
	return sv, nil
}

// overlaps reports whether the caller's prefix and path are one within the other: a global
// admin overlaps everything; a caller without a valid prefix, nothing.
func overlaps(ctx context.Context, path segment.Path) bool {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return false
	}
	if p.Global() {
		return true
	}
	prefix, err := segment.Parse(p.Prefix)
	if err != nil {
		return false
	}
	return path.Within(prefix) || prefix.Within(path)
}

// listSurveys reads one page of ListSurveys: the surveys whose audience covers q.prefix or is
// within it, after q.after. next is the index key of the last one when more follow.
func (s *Service) listSurveys(q listQuery) (surveys []*survey, next []byte, err error) {
	err = s.host.DB.View(func(tx *bolt.Tx) error {
		recs, n, err := store.ListSurveys(tx, q.prefix, q.after, q.size)
		if err != nil {
			return err
		}
		surveys, next = surveys[:0], n
		for _, r := range recs {
			sv, err := surveyFromRecord(r)
			if err != nil {
				return err
			}
			surveys = append(surveys, sv)
		}
		return nil
	})
	return surveys, next, err
}

// surveyView is a stored survey as readers see it at now: a wave is closed once its closing
// time has passed (the stored flag only records explicit closes).
func surveyView(sv *pulsev1.Survey, now time.Time) *pulsev1.Survey {
	out := proto.CloneOf(sv)
	for _, w := range out.Waves {
		w.Closed = w.Closed || out.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED || !now.Before(w.ClosesAt.AsTime())
	}
	return out
}

// isOpen: opens_at <= now < closes_at, and neither the wave nor the survey closed.
func isOpen(sv *pulsev1.Survey, w *pulsev1.Wave, now time.Time) bool {
	return sv.State == pulsev1.SurveyState_SURVEY_STATE_ACTIVE && !w.Closed &&
		!now.Before(w.OpensAt.AsTime()) && now.Before(w.ClosesAt.AsTime())
}

// openWave is the survey's open wave at now, or nil. Waves do not overlap: the latest one
// that has opened is the only candidate.
func openWave(sv *pulsev1.Survey, now time.Time) *pulsev1.Wave {
	for i := len(sv.Waves) - 1; i >= 0; i-- {
		w := sv.Waves[i]
		if !now.Before(w.OpensAt.AsTime()) {
			if isOpen(sv, w, now) {
				return w
			}
			return nil
		}
	}
	return nil
}

// answerableWave resolves the wave a response is for: number 0 means the open one.
func answerableWave(sv *pulsev1.Survey, number uint32, now time.Time) (*pulsev1.Wave, error) {
	if sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED {
		return nil, fmt.Errorf("survey_id: %w: survey %s no longer takes responses", errSurveyClosed, sv.Id)
	}
	if number == 0 {
		if w := openWave(sv, now); w != nil {
			return w, nil
		}
		last := sv.Waves[len(sv.Waves)-1]
		return nil, fmt.Errorf("wave: %w: survey %s has no open wave now (wave %d opens %s and closes %s)", errWaveNotOpen, sv.Id,
			last.Number, last.OpensAt.AsTime().Format(time.RFC3339), last.ClosesAt.AsTime().Format(time.RFC3339))
	}
	if int(number) > len(sv.Waves) {
		return nil, fmt.Errorf("wave: %w: wave %d of survey %s has not opened yet", errWaveNotOpen, number, sv.Id)
	}
	w := sv.Waves[number-1]
	switch {
	case now.Before(w.OpensAt.AsTime()):
		return nil, fmt.Errorf("wave: %w: wave %d opens at %s", errWaveNotOpen, number, w.OpensAt.AsTime().Format(time.RFC3339))
	case !isOpen(sv, w, now):
		return nil, fmt.Errorf("wave: %w: wave %d closed at %s", errWaveNotOpen, number, w.ClosesAt.AsTime().Format(time.RFC3339))
	}
	return w, nil
}

// askedIn maps the ids of the questions a wave asks to the questions.
func askedIn(sv *pulsev1.Survey, w *pulsev1.Wave) map[string]*pulsev1.Question {
	byID := make(map[string]*pulsev1.Question, len(sv.Questions))
	for _, q := range sv.Questions {
		byID[q.Id] = q
	}
	asked := make(map[string]*pulsev1.Question, len(w.QuestionIds))
	for _, id := range w.QuestionIds {
		if q, ok := byID[id]; ok {
			asked[id] = q
		}
	}
	return asked
}

func waveOpenedEvent(sv *survey, w *pulsev1.Wave, now time.Time) (bus.Event, error) {
	data, err := proto.Marshal(&eventsv1.WaveOpened{
		SurveyId: sv.Id, Wave: w.Number, Audience: sv.Audience, OpensAt: w.OpensAt, ClosesAt: w.ClosesAt,
	})
	if err != nil {
		return bus.Event{}, fmt.Errorf("encode WaveOpened: %w", err)
	}
	return bus.Event{
		ID:      events.WaveOpenedID(sv.Id, w.Number),
		Type:    events.PulseWaveOpened.Type,
		Source:  events.PulseWaveOpened.Source,
		Subject: events.PulseWaveOpened.Subject(sv.audience),
		Time:    now,
		Data:    data,
	}, nil
}
