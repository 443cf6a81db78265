package pulse

import (
	"errors"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// The storage edge: the store keeps records of its own (internal/store), and this file maps
// them to and from the API and event messages the rest of the service works with.

// survey is a survey as the service works with it: the API message, mapped from its store
// record, and its audience, parsed once.
type survey struct {
	*pulsev1.Survey
	audience segment.Path
}

// getSurvey reads survey id. An id with no survey is errNotFound on survey_id, the field every
// request names a survey with.
func getSurvey(tx store.ReadTx, id string) (*survey, error) {
	r, err := store.GetSurvey(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, surveyNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return surveyFromRecord(r)
}

// surveyNotFound is the error for a survey that does not exist or that the caller may not see:
// the same, so that the two cannot be told apart.
func surveyNotFound(id string) error {
	return fmt.Errorf("survey_id: %w: survey %q", errNotFound, id)
}

// surveysWithAudience reads the surveys whose audience is exactly path.
func surveysWithAudience(tx store.ReadTx, path segment.Path) ([]*survey, error) {
	recs, err := store.SurveysWithAudience(tx, path)
	if err != nil {
		return nil, err
	}
	out := make([]*survey, 0, len(recs))
	for _, r := range recs {
		sv, err := surveyFromRecord(r)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

// unsafePutSurvey stores sv; tx must be a write transaction.
func unsafePutSurvey(tx store.WriteTx, sv *survey) error {
	r, err := surveyRecord(sv.Survey)
	if err != nil {
		return err
	}
	return store.UnsafePutSurvey(tx, r)
}

// enumTable maps an API enumeration to the name the store keeps, both ways.
type enumTable[P ~int32, S ~string] map[P]S

func (t enumTable[P, S]) record(what string, p P) (S, error) {
	s, ok := t[p]
	if !ok {
		var zero S
		return zero, fmt.Errorf("store mapping: %s %d has no stored name", what, p)
	}
	return s, nil
}

func (t enumTable[P, S]) api(what string, s S) (P, error) {
	for p, v := range t {
		if v == s {
			return p, nil
		}
	}
	var zero P
	return zero, fmt.Errorf("store mapping: stored %s %q is unknown", what, s)
}

var (
	surveyKinds = enumTable[pulsev1.SurveyKind, store.SurveyKind]{
		pulsev1.SurveyKind_SURVEY_KIND_UNSPECIFIED:       store.KindUnspecified,
		pulsev1.SurveyKind_SURVEY_KIND_PULSE:             store.KindPulse,
		pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING:        store.KindOnboarding,
		pulsev1.SurveyKind_SURVEY_KIND_EXIT:              store.KindExit,
		pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC:        store.KindDiagnostic,
		pulsev1.SurveyKind_SURVEY_KIND_CANDIDATE:         store.KindCandidate,
		pulsev1.SurveyKind_SURVEY_KIND_INTERNAL_MOVE:     store.KindInternalMove,
		pulsev1.SurveyKind_SURVEY_KIND_MANAGER_CHANGE:    store.KindManagerChange,
		pulsev1.SurveyKind_SURVEY_KIND_RETURN_FROM_LEAVE: store.KindReturnFromLeave,
		pulsev1.SurveyKind_SURVEY_KIND_ANNIVERSARY:       store.KindAnniversary,
	}
	surveyStates = enumTable[pulsev1.SurveyState, store.SurveyState]{
		pulsev1.SurveyState_SURVEY_STATE_UNSPECIFIED: store.StateUnspecified,
		pulsev1.SurveyState_SURVEY_STATE_ACTIVE:      store.StateActive,
		pulsev1.SurveyState_SURVEY_STATE_CLOSED:      store.StateClosed,
	}
	cadences = enumTable[pulsev1.Cadence, store.Cadence]{
		pulsev1.Cadence_CADENCE_UNSPECIFIED: store.CadenceUnspecified,
		pulsev1.Cadence_CADENCE_ONCE:        store.CadenceOnce,
		pulsev1.Cadence_CADENCE_WEEKLY:      store.CadenceWeekly,
		pulsev1.Cadence_CADENCE_BIWEEKLY:    store.CadenceBiweekly,
		pulsev1.Cadence_CADENCE_MONTHLY:     store.CadenceMonthly,
		pulsev1.Cadence_CADENCE_QUARTERLY:   store.CadenceQuarterly,
	}
	questionKinds = enumTable[commonv1.QuestionKind, store.QuestionKind]{
		commonv1.QuestionKind_QUESTION_KIND_UNSPECIFIED: store.QuestionUnspecified,
		commonv1.QuestionKind_QUESTION_KIND_SCALE:       store.QuestionScale,
		commonv1.QuestionKind_QUESTION_KIND_ENPS:        store.QuestionENPS,
		commonv1.QuestionKind_QUESTION_KIND_CHOICE:      store.QuestionChoice,
		commonv1.QuestionKind_QUESTION_KIND_TEXT:        store.QuestionText,
	}
	dimensions = enumTable[commonv1.Dimension, store.Dimension]{
		commonv1.Dimension_DIMENSION_UNSPECIFIED: store.DimensionUnspecified,
		commonv1.Dimension_DIMENSION_MEANING:     store.DimensionMeaning,
		commonv1.Dimension_DIMENSION_GROWTH:      store.DimensionGrowth,
		commonv1.Dimension_DIMENSION_CONNECTIONS: store.DimensionConnections,
		commonv1.Dimension_DIMENSION_IMAGE:       store.DimensionImage,
		commonv1.Dimension_DIMENSION_ECOSYSTEM:   store.DimensionEcosystem,
		commonv1.Dimension_DIMENSION_RECOGNITION: store.DimensionRecognition,
		commonv1.Dimension_DIMENSION_WORKLOAD:    store.DimensionWorkload,
		commonv1.Dimension_DIMENSION_ENGAGEMENT:  store.DimensionEngagement,
	}
)

// textRecord keeps a LocalizedText's presence: nil stays nil, a set message a non-nil map.
func textRecord(lt *commonv1.LocalizedText) store.Text {
	if lt == nil {
		return nil
	}
	t := store.Text{}
	maps.Copy(t, lt.Translations)
	return t
}

func textFromRecord(t store.Text) *commonv1.LocalizedText {
	if t == nil {
		return nil
	}
	return &commonv1.LocalizedText{Translations: maps.Clone(t)}
}

func timeRecord(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func timestampFromRecord(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// surveyRecord maps a survey to its store record.
func surveyRecord(sv *pulsev1.Survey) (store.Survey, error) {
	r := store.Survey{
		ID:               sv.Id,
		Title:            textRecord(sv.Title),
		Audience:         sv.Audience,
		QuestionsPerWave: sv.QuestionsPerWave,
		MinGroupSize:     sv.MinGroupSize,
		CommentThreshold: sv.CommentThreshold,
		DefaultLanguage:  sv.DefaultLanguage,
		TemplateID:       sv.TemplateId,
		LiveResults:      sv.LiveResults,
		Created:          timeRecord(sv.CreateTime),
	}
	var err error
	if r.Kind, err = surveyKinds.record("survey kind", sv.Kind); err != nil {
		return store.Survey{}, err
	}
	if r.State, err = surveyStates.record("survey state", sv.State); err != nil {
		return store.Survey{}, err
	}
	if r.Cadence, err = cadences.record("cadence", sv.Cadence); err != nil {
		return store.Survey{}, err
	}
	if s := sv.Schedule; s != nil {
		r.Schedule = store.Schedule{
			FirstOpensAt: timeRecord(s.FirstOpensAt), TimeZone: s.TimeZone, ResponseWindow: s.ResponseWindow.AsDuration(),
		}
	}
	for _, q := range sv.Questions {
		qr := store.Question{
			ID: q.Id, Text: textRecord(q.Text), Multiple: q.Multiple, Always: q.Always, EveryNthWave: q.EveryNthWave,
		}
		if qr.Kind, err = questionKinds.record("question kind", q.Kind); err != nil {
			return store.Survey{}, err
		}
		if qr.Dimension, err = dimensions.record("dimension", q.Dimension); err != nil {
			return store.Survey{}, err
		}
		for _, o := range q.Options {
			qr.Options = append(qr.Options, store.Option{ID: o.Id, Label: textRecord(o.Label)})
		}
		r.Questions = append(r.Questions, qr)
	}
	for _, w := range sv.Waves {
		r.Waves = append(r.Waves, store.Wave{
			Number: w.Number, OpensAt: timeRecord(w.OpensAt), ClosesAt: timeRecord(w.ClosesAt),
			QuestionIDs: w.QuestionIds, Closed: w.Closed,
		})
	}
	if sv.LifecycleDelay != nil {
		d := sv.LifecycleDelay.AsDuration()
		r.LifecycleDelay = &d
	}
	return r, nil
}

// surveyFromRecord maps a store record to the survey it stores, and parses its audience.
func surveyFromRecord(r store.Survey) (*survey, error) {
	audience, err := segment.Parse(r.Audience)
	if err != nil {
		return nil, fmt.Errorf("store mapping: survey %q: audience: %w", r.ID, err)
	}
	sv := &pulsev1.Survey{
		Id:               r.ID,
		Title:            textFromRecord(r.Title),
		Audience:         audience.String(),
		QuestionsPerWave: r.QuestionsPerWave,
		MinGroupSize:     r.MinGroupSize,
		CommentThreshold: r.CommentThreshold,
		DefaultLanguage:  r.DefaultLanguage,
		TemplateId:       r.TemplateID,
		LiveResults:      r.LiveResults,
		CreateTime:       timestampFromRecord(r.Created),
	}
	if sv.Kind, err = surveyKinds.api("survey kind", r.Kind); err != nil {
		return nil, err
	}
	if sv.State, err = surveyStates.api("survey state", r.State); err != nil {
		return nil, err
	}
	if sv.Cadence, err = cadences.api("cadence", r.Cadence); err != nil {
		return nil, err
	}
	if s := r.Schedule; s != (store.Schedule{}) {
		sv.Schedule = &pulsev1.Schedule{FirstOpensAt: timestampFromRecord(s.FirstOpensAt), TimeZone: s.TimeZone}
		if s.ResponseWindow != 0 {
			sv.Schedule.ResponseWindow = durationpb.New(s.ResponseWindow)
		}
	}
	for _, qr := range r.Questions {
		q := &pulsev1.Question{
			Id: qr.ID, Text: textFromRecord(qr.Text), Multiple: qr.Multiple, Always: qr.Always, EveryNthWave: qr.EveryNthWave,
		}
		if q.Kind, err = questionKinds.api("question kind", qr.Kind); err != nil {
			return nil, err
		}
		if q.Dimension, err = dimensions.api("dimension", qr.Dimension); err != nil {
			return nil, err
		}
		for _, o := range qr.Options {
			q.Options = append(q.Options, &pulsev1.ChoiceOption{Id: o.ID, Label: textFromRecord(o.Label)})
		}
		sv.Questions = append(sv.Questions, q)
	}
	for _, w := range r.Waves {
		sv.Waves = append(sv.Waves, &pulsev1.Wave{
			Number: w.Number, OpensAt: timestampFromRecord(w.OpensAt), ClosesAt: timestampFromRecord(w.ClosesAt),
			QuestionIds: w.QuestionIDs, Closed: w.Closed,
		})
	}
	if r.LifecycleDelay != nil {
		sv.LifecycleDelay = durationpb.New(*r.LifecycleDelay)
	}
	return &survey{Survey: sv, audience: audience}, nil
}

// responseRecord maps a ResponseSubmitted to the response stored with it. Contributor tags
// are not stored: they only travel in the event, where the aggregator needs them.
func responseRecord(ev *eventsv1.ResponseSubmitted) (store.Response, error) {
	r := store.Response{
		ID: ev.ResponseId, SurveyID: ev.SurveyId, Wave: ev.Wave, Segment: ev.Segment, Day: timeRecord(ev.SubmittedDay),
	}
	for _, a := range ev.Answers {
		kind, err := questionKinds.record("question kind", a.Kind)
		if err != nil {
			return store.Response{}, err
		}
		r.Answers = append(r.Answers, store.Answer{
			QuestionID: a.QuestionId, Kind: kind, Value: a.Value, OptionIDs: a.OptionIds, Text: a.Text,
		})
	}
	return r, nil
}

// segmentView is a registry entry as UpsertSegment returns it.
func segmentView(path segment.Path, s store.Segment) *pulsev1.Segment {
	return &pulsev1.Segment{Path: path.String(), Headcount: s.Headcount, UpdateTime: timestampFromRecord(s.Updated)}
}

// v1 reads a schema 1 store, whose values were the API and event messages themselves, and
// announces the segment entries it starts the registry with.
func (s *Service) v1() store.V1 {
	return store.V1{
		Survey: func(v []byte) (store.Survey, error) {
			var sv pulsev1.Survey
			if err := proto.Unmarshal(v, &sv); err != nil {
				return store.Survey{}, err
			}
			return surveyRecord(&sv)
		},
		Segment: func(v []byte) (store.Segment, error) {
			var seg pulsev1.Segment
			if err := proto.Unmarshal(v, &seg); err != nil {
				return store.Segment{}, err
			}
			return store.Segment{Headcount: seg.Headcount, Updated: timeRecord(seg.UpdateTime)}, nil
		},
		Response: func(v []byte) (store.Response, error) {
			var ev eventsv1.ResponseSubmitted
			if err := proto.Unmarshal(v, &ev); err != nil {
				return store.Response{}, err
			}
			return responseRecord(&ev)
		},
		Counted: func(tx *bolt.Tx, path segment.Path, seg store.Segment) error {
			return s.unsafeAnnounceSegment(tx, path, seg)
		},
	}
}
