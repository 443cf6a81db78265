package pulse

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Closing the loop (docs/design.md, Survey comments and "you said, we did").
//
// Survey comments. A non-empty TEXT answer also becomes a feedback item (channel SURVEY) with
// a thread of its own. Pulse makes the follow-up token at submit time and returns it to the
// respondent; it keeps only its SHA-256, in a SurveyComment held in survey_comments, written
// in the response's transaction (so an acknowledged response has its comment on disk). The
// comment shares nothing with the response or the marker: a random id of its own, the day
// only, no contributor tag. Once the UTC day of the response has ended, the release publishes
// the day's held comments together, in the order of their random ids, as PulseSurveyComment
// events; so neither the stream's order nor its receive times match the comment with its
// response, which was published at once. The feedback service creates the item from the
// event (survey_items.go there), once per event id.

// followUpPurpose scopes the follow-up token derived for a retry with an idempotency key.
const followUpPurpose = "pulse/follow-up/"

// tokenEncoding writes follow-up tokens as rand.Text does: 26 characters of base32, the shape
// of the feedback service's own codes, which scrubbing and the gateway recognise.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// surveyThreads makes a thread for each non-empty TEXT answer of sub: the token the
// respondent gets and the comment held for the feedback service. With an idempotency key the
// token is derived from the key, the marker scope, the question and the person (a keyed
// hash), so that a retry returns the same token although only its hash was kept; without
// one it is random.
//
// Lifecycle surveys open no thread: the people a moment of truth asks are few, and HR knows
// who they are (it reported them), which is why their results wait for the cohort's month to
// end and k respondents; an item shown the next day under the person's team would undo that.
func (s *Service) surveyThreads(sub submission, now time.Time) ([]*pulsev1.SurveyThread, []store.SurveyComment) {
	if lifecycleKind(sub.survey.Kind) {
		return nil, nil
	}
	scope := answerScope(sub.survey.Survey, sub.wave)
	day := window.Of(window.Day, now).Start
	var threads []*pulsev1.SurveyThread
	var held []store.SurveyComment
	for _, a := range sub.answers {
		if a.Kind != commonv1.QuestionKind_QUESTION_KIND_TEXT || strings.TrimSpace(a.Text) == "" {
			continue
		}
		token := rand.Text()
		if sub.key != "" {
			tag := s.host.Secret.Tag(followUpPurpose+scope+"/"+sub.key+"/"+a.QuestionId, sub.ref)
			token = tokenEncoding.EncodeToString(tag[:16])
		}
		h := sha256.Sum256([]byte(token))
		threads = append(threads, &pulsev1.SurveyThread{QuestionId: a.QuestionId, FollowUpToken: token})
		held = append(held, store.SurveyComment{
			ID: rand.Text(), Segment: sub.seg.String(), Text: a.Text, Language: sub.survey.DefaultLanguage,
			Dimension: int32(a.Dimension), FollowUpHash: h[:], Day: day,
			SurveyID: sub.survey.Id, QuestionID: a.QuestionId,
		})
	}
	return threads, held
}

// releaseSurveyComments publishes the held comments of days before now's, in one transaction
// that queues their events in the outbox and forgets them. It returns how many it released.
func (s *Service) releaseSurveyComments(now time.Time) (int, error) {
	today := window.Of(window.Day, now).Start
	var due []store.SurveyComment
	if err := s.host.DB.View(func(tx *bolt.Tx) error {
		var err error
		due, err = store.SurveyCommentsBefore(tx, today)
		return err
	}); err != nil || len(due) == 0 {
		return 0, err
	}
	n := 0
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		due, err := store.SurveyCommentsBefore(tx, today)
		if err != nil {
			return err
		}
		n = len(due)
		for _, c := range due {
			seg, err := segment.Parse(c.Segment)
			if err != nil {
				return fmt.Errorf("survey comment %s: %w", c.ID, err)
			}
			ev := &eventsv1.SurveyComment{
				CommentId: c.ID, Segment: c.Segment, Text: c.Text, Language: c.Language,
				FollowUpHash: c.FollowUpHash, SubmittedDay: timestamppb.New(c.Day),
				SurveyId: c.SurveyID, QuestionId: c.QuestionID,
			}
			if c.Dimension != 0 {
				ev.Dimensions = []commonv1.Dimension{commonv1.Dimension(c.Dimension)}
			}
			data, err := proto.Marshal(ev)
			if err != nil {
				return fmt.Errorf("encode SurveyComment: %w", err)
			}
			if err := s.host.Outbox.Add(tx, bus.Event{
				ID:      events.SurveyCommentID(c.ID),
				Type:    events.PulseSurveyComment.Type,
				Source:  events.PulseSurveyComment.Source,
				Subject: events.PulseSurveyComment.Subject(seg),
				Time:    c.Day,
				Data:    data,
			}); err != nil {
				return err
			}
			if err := store.UnsafeDeleteSurveyComment(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// releaseLoop releases held survey comments and publishes due reminders every ScheduleEvery.
func (s *Service) releaseLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ScheduleEvery)
	defer t.Stop()
	for {
		if _, err := s.releaseSurveyComments(s.cfg.Now()); err != nil {
			s.host.Log.Error("release survey comments", "err", err)
		}
		if _, err := s.remind(s.cfg.Now()); err != nil {
			s.host.Log.Error("reminders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// "You said, we did". Pulse keeps the latest state of every action plan from the feedback
// service's action_created and action_updated events (the durable pulse-actions), and shows
// the plans of the respondent's segment and its ancestors changed since the previous wave at
// the end of SubmitResponse. Events rather than a gRPC call to feedback: the answer never
// waits on, or fails with, another service; pulse needs no client credentials for feedback;
// and the events carry exactly what is shown (title, status, owner group, dimension, day),
// never a comment or a person.

const (
	maxPlanNews = 20
	// planNewsFallback is how far back plans are shown when there is no previous wave.
	planNewsFallback = 90 * 24 * time.Hour
)

// applyPlanNews keeps the latest change of a plan: a redelivered or older change does nothing.
func (s *Service) applyPlanNews(tx *bolt.Tx, ev bus.Event) error {
	var pc eventsv1.ActionPlanChanged
	if err := proto.Unmarshal(ev.Data, &pc); err != nil {
		return fmt.Errorf("decode ActionPlanChanged %s: %v: %w", ev.ID, err, consumer.ErrPermanent)
	}
	if _, err := segment.Parse(pc.Segment); err != nil || pc.PlanId == "" {
		return fmt.Errorf("ActionPlanChanged %s: bad plan id or segment: %w", ev.ID, consumer.ErrPermanent)
	}
	old, found, err := store.GetPlanNews(tx, pc.Segment, pc.PlanId)
	if err != nil {
		return err
	}
	if found && pc.Seq <= old.Seq {
		return nil
	}
	return store.UnsafePutPlanNews(tx, store.PlanNews{
		ID: pc.PlanId, Segment: pc.Segment, Dimension: int32(pc.Dimension), Title: pc.Title, Status: pc.Status,
		ChangedDay: window.Of(window.Day, pc.ChangedDay.AsTime()).Start, Seq: pc.Seq,
	})
}

// startPlanNews starts the pulse-actions consumer.
func (s *Service) startPlanNews() error {
	return s.host.Consume(consumer.Config{
		Stream:         events.FeedbackActionCreated.Stream.Name,
		Durable:        events.ReplicaDurable(events.DurablePulseActions, s.cfg.Replica.Name), // replicas.go
		FilterSubjects: []string{events.FeedbackActionCreated.All(), events.FeedbackActionUpdated.All()},
		Handle:         s.applyPlanNews,
		Log:            s.host.Log,
	})
}

// newsSince is the day from which plans are news for a response to wave of sv: the opening
// of the previous wave, or planNewsFallback before now for a first wave and lifecycle surveys.
func newsSince(sv *pulsev1.Survey, wave uint32, now time.Time) time.Time {
	if !lifecycleKind(sv.Kind) && wave >= 2 && int(wave-1) <= len(sv.Waves) {
		if prev := sv.Waves[wave-2]; prev.GetOpensAt() != nil {
			return window.Of(window.Day, prev.OpensAt.AsTime()).Start
		}
	}
	return window.Of(window.Day, now.Add(-planNewsFallback)).Start
}

// planNews lists the plans of seg and its ancestors changed on or after since, most recently
// changed first, at most maxPlanNews.
func (s *Service) planNews(seg segment.Path, since time.Time) ([]*pulsev1.PlanNews, error) {
	var got []store.PlanNews
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		for _, a := range seg.Ancestors() {
			err := store.PlanNewsOf(tx, a.String(), func(p store.PlanNews) error {
				if !p.ChangedDay.Before(since) {
					got = append(got, p)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(got, func(a, b store.PlanNews) int {
		if c := b.ChangedDay.Compare(a.ChangedDay); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(got) > maxPlanNews {
		got = got[:maxPlanNews]
	}
	out := make([]*pulsev1.PlanNews, 0, len(got))
	for _, p := range got {
		out = append(out, &pulsev1.PlanNews{
			PlanId: p.ID, Segment: p.Segment, Dimension: commonv1.Dimension(p.Dimension), Title: p.Title,
			Status: p.Status, ChangedDay: timestamppb.New(p.ChangedDay),
		})
	}
	return out, nil
}

// isRetry reports whether the person's marker for wave of sv holds the value an answer with
// idempotency key key wrote: the call repeats an answer already stored.
func (s *Service) isRetry(sv *pulsev1.Survey, wave uint32, ref, key string) bool {
	if key == "" {
		return false
	}
	scope := answerScope(sv, wave)
	idem := s.idempotencyTag(scope, ref, key)
	retry := false
	_ = s.host.DB.View(func(tx *bolt.Tx) error {
		prev, found, err := store.GetMarker(tx, s.markerTag(scope, ref))
		retry = err == nil && found && hmac.Equal(prev, idem)
		return nil
	})
	return retry
}

// Reminders. People who have not answered are reminded without anyone learning who they are.
// Once half of a pulse wave's response window has passed, pulse publishes one WaveReminder on
// the audience (recorded in reminders, in the event's transaction, so it goes out once): bots
// remind the audience, or each person in a message of their own when their
// ListPendingSurveys still lists the wave. ListPendingSurveys marks closing_soon the waves in
// the last half of the person's window, lifecycle surveys included (their cohorts are not
// announced, and each person has a window of their own). Who has answered is never published
// or stored beyond the marker, which names no one.

// closingSoon reports whether less than half of the window [opens, closes) remains at now.
func closingSoon(opens, closes, now time.Time) bool {
	return !now.Before(opens.Add(closes.Sub(opens) / 2))
}

// remind publishes the reminders due at now and returns how many.
func (s *Service) remind(now time.Time) (int, error) {
	type due struct {
		sv *survey
		w  *pulsev1.Wave
	}
	find := func(tx *bolt.Tx) ([]due, error) {
		ids, err := store.SurveyIDs(tx)
		if err != nil {
			return nil, err
		}
		var out []due
		for _, id := range ids {
			sv, err := getSurvey(tx, id)
			if err != nil {
				return nil, err
			}
			if lifecycleKind(sv.Kind) || sv.State != pulsev1.SurveyState_SURVEY_STATE_ACTIVE {
				continue
			}
			w := openWave(sv.Survey, now)
			if w == nil || !closingSoon(w.OpensAt.AsTime(), w.ClosesAt.AsTime(), now) {
				continue
			}
			done, err := store.Reminded(tx, sv.Id, w.Number)
			if err != nil {
				return nil, err
			}
			if !done {
				out = append(out, due{sv, w})
			}
		}
		return out, nil
	}
	var pending []due
	if err := s.host.DB.View(func(tx *bolt.Tx) error {
		var err error
		pending, err = find(tx)
		return err
	}); err != nil || len(pending) == 0 {
		return 0, err
	}
	n := 0
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		todo, err := find(tx)
		if err != nil {
			return err
		}
		n = len(todo)
		for _, d := range todo {
			data, err := proto.Marshal(&eventsv1.WaveReminder{SurveyId: d.sv.Id, Wave: d.w.Number, Audience: d.sv.audience.String(), ClosesAt: d.w.ClosesAt})
			if err != nil {
				return err
			}
			if err := s.host.Outbox.Add(tx, bus.Event{
				ID: events.WaveReminderID(d.sv.Id, d.w.Number), Type: events.PulseWaveReminder.Type, Source: events.PulseWaveReminder.Source,
				Subject: events.PulseWaveReminder.Subject(d.sv.audience), Time: window.Of(window.Day, now).Start, Data: data,
			}); err != nil {
				return err
			}
			if err := store.UnsafeMarkReminded(tx, d.sv.Id, d.w.Number); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
