package pulse_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

// TestSurveyTextAnswerOpensAThread: a TEXT answer gets a follow-up token in the receipt (the
// same one on a retry with the idempotency key), answers without text get none, and the
// comment is held until the day of the response has ended: then one SurveyComment per text is
// published, with the token's hash, the scrubbed text, the day, and nothing of the response
// (no response id, no contributor tag).
func TestSurveyTextAnswerOpensAThread(t *testing.T) {
	f := start(t)
	f.tick(t, t0)
	sv := f.createSurvey(t, validSurvey())
	req := &pulsev1.SubmitResponseRequest{SurveyId: sv.Id, Segment: "acme/eng/web", SubmitterRef: secretRef, IdempotencyKey: "k1", Answers: fullAnswers()}
	first, err := f.client.SubmitResponse(f.submitter(), req)
	if err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	if len(first.Threads) != 1 || first.Threads[0].QuestionId != "say" || len(first.Threads[0].FollowUpToken) != 26 {
		t.Fatalf("threads = %v, want one 26-character token for the TEXT answer", first.Threads)
	}
	token := first.Threads[0].FollowUpToken
	again, err := f.client.SubmitResponse(f.submitter(), req)
	if err != nil || len(again.Threads) != 1 || again.Threads[0].FollowUpToken != token {
		t.Fatalf("retry: %v, %v; want the same token", again, err)
	}
	other, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng/web", SubmitterRef: "someone", Answers: []*pulsev1.Answer{scale("mood", 3)},
	})
	if err != nil || len(other.Threads) != 0 {
		t.Fatalf("answers without text: %v, %v; want no thread", other, err)
	}
	f.submit(t, sv.Id, "third", "acme/eng/api", scale("mood", 2), text("say", "The on-call rota is unfair"))

	// Held on the day of the responses.
	if n, err := f.svc.ReleaseSurveyComments(t0.Add(13 * time.Hour)); err != nil || n != 0 {
		t.Fatalf("release on the same day: %d, %v; want nothing", n, err)
	}
	if got := publishedIDs(t, f, events.PulseSurveyComment.All()); len(got) != 0 {
		t.Fatalf("survey comments published on the day of the response: %v", got)
	}
	if n, err := f.svc.ReleaseSurveyComments(t0.Add(24 * time.Hour)); err != nil || n != 2 {
		t.Fatalf("release the next day: %d, %v; want the 2 texts", n, err)
	}
	if n, err := f.svc.ReleaseSurveyComments(t0.Add(48 * time.Hour)); err != nil || n != 0 {
		t.Fatalf("second release: %d, %v; want nothing left", n, err)
	}
	var responses [][]byte
	for _, m := range streamEvents(t, f, events.PulseResponded.All()) {
		var r eventsv1.ResponseSubmitted
		if err := proto.Unmarshal(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		responses = append(responses, []byte(r.ResponseId))
	}
	var msgs []*eventsv1.SurveyComment
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		var out []*eventsv1.SurveyComment
		for _, m := range streamEvents(t, f, events.PulseSurveyComment.All()) {
			var c eventsv1.SurveyComment
			if err := proto.Unmarshal(m.Data(), &c); err != nil {
				return err
			}
			if ce, err := time.Parse(time.RFC3339, m.Headers().Get(bus.HeaderTime)); err != nil || !ce.Equal(bus.Day(t0)) {
				t.Errorf("ce-time %q, want the response's day", m.Headers().Get(bus.HeaderTime))
			}
			if id := m.Headers().Get(bus.HeaderMsgID); id != events.SurveyCommentID(c.CommentId) {
				t.Errorf("event id %q, want %q", id, events.SurveyCommentID(c.CommentId))
			}
			for _, r := range responses {
				if bytes.Contains(m.Data(), r) {
					t.Errorf("survey comment %s holds a response id", c.CommentId)
				}
			}
			out = append(out, &c)
		}
		if len(out) < 2 {
			return fmt.Errorf("%d survey comments published, want 2", len(out))
		}
		msgs = out
		return nil
	})
	hash := sha256.Sum256([]byte(token))
	var mine *eventsv1.SurveyComment
	for _, c := range msgs {
		if bytes.Equal(c.FollowUpHash, hash[:]) {
			mine = c
		}
		if strings.Contains(string(c.FollowUpHash), token) {
			t.Errorf("an event holds the token")
		}
	}
	if mine == nil {
		t.Fatalf("no survey comment carries the hash of the returned token: %v", msgs)
	}
	if mine.Segment != "acme/eng/web" || mine.SurveyId != sv.Id || mine.QuestionId != "say" ||
		!slices.Equal(mine.Dimensions, []commonv1.Dimension{commonv1.Dimension_DIMENSION_CONNECTIONS}) ||
		!mine.SubmittedDay.AsTime().Equal(bus.Day(t0)) || strings.Contains(mine.Text, "jane.doe") || !strings.Contains(mine.Text, "[email]") {
		t.Errorf("survey comment = %v", mine)
	}
}

// publishPlan publishes an ActionPlanChanged as the feedback service does.
func publishPlan(t testing.TB, f *fixture, kind events.Kind, pc *eventsv1.ActionPlanChanged) {
	t.Helper()
	b, err := bus.Connect(context.Background(), f.env.NATSConfig())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer b.Close()
	data, err := proto.Marshal(pc)
	if err != nil {
		t.Fatal(err)
	}
	id := events.ActionCreatedID(pc.PlanId)
	if pc.Seq > 0 {
		id = events.ActionUpdatedID(pc.PlanId, pc.Seq)
	}
	day := pc.ChangedDay.AsTime()
	if err := b.Publish(context.Background(), bus.Event{
		ID: id, Type: kind.Type, Source: kind.Source, Subject: kind.Subject(segment.MustParse(pc.Segment)), Time: day, Data: data,
	}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// actionsApplied waits until pulse's pulse-actions consumer has applied n events.
func actionsApplied(t testing.TB, f *fixture, n uint64) {
	t.Helper()
	js := f.env.JetStream(t)
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		c, err := js.Consumer(context.Background(), events.Feedback.Name, events.DurablePulseActions)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < n || info.NumAckPending > 0 {
			return fmt.Errorf("pulse-actions acked up to %d, want %d", info.AckFloor.Stream, n)
		}
		return nil
	})
}

// TestPlanNewsAtTheEndOfAPulse: "you said, we did". A response to wave 2 lists the plans of
// the respondent's segment and its ancestors changed since wave 1 opened, latest state only,
// newest change first; not another team's plan, not one changed before the previous wave.
func TestPlanNewsAtTheEndOfAPulse(t *testing.T) {
	f := start(t)
	f.tick(t, t0)
	sv := f.createSurvey(t, validSurvey())
	week := 7 * 24 * time.Hour
	wave2 := t0.Add(week)
	f.tick(t, wave2)
	f.clock.Set(wave2)
	plan := func(id, seg, title string, status int32, seq uint32, day time.Time) *eventsv1.ActionPlanChanged {
		return &eventsv1.ActionPlanChanged{PlanId: id, Segment: seg, Title: title, Status: status, OwnerGroup: "eng-leads",
			Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, ChangedDay: timestamppb.New(bus.Day(day)), Seq: seq}
	}
	publishPlan(t, f, events.FeedbackActionCreated, plan("p-team", "acme/eng/web", "Rota review", 1, 0, t0.Add(24*time.Hour)))
	publishPlan(t, f, events.FeedbackActionUpdated, plan("p-team", "acme/eng/web", "Rota review", 3, 2, t0.Add(3*24*time.Hour)))
	publishPlan(t, f, events.FeedbackActionUpdated, plan("p-team", "acme/eng/web", "Rota review", 2, 1, t0.Add(2*24*time.Hour))) // late, older
	publishPlan(t, f, events.FeedbackActionCreated, plan("p-org", "acme", "Quiet hours", 2, 0, t0.Add(2*24*time.Hour)))
	publishPlan(t, f, events.FeedbackActionCreated, plan("p-sales", "acme/sales", "Sales tools", 1, 0, t0.Add(24*time.Hour)))
	publishPlan(t, f, events.FeedbackActionCreated, plan("p-old", "acme/eng", "Old plan", 1, 0, t0.Add(-30*24*time.Hour)))
	actionsApplied(t, f, 6)

	resp, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng/web", SubmitterRef: secretRef, Answers: []*pulsev1.Answer{enpsAnswer("enps", 8)},
	})
	if err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	if resp.Wave != 2 {
		t.Fatalf("answered wave %d, want 2", resp.Wave)
	}
	var got []string
	for _, n := range resp.PlanNews {
		got = append(got, fmt.Sprintf("%s:%s:%d", n.PlanId, n.Segment, n.Status))
	}
	want := []string{"p-team:acme/eng/web:3", "p-org:acme:2"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan news = %v, want %v", got, want)
	}
	// Employees never see who carries a plan out (docs/design.md, action plans).
	if b, _ := proto.Marshal(resp); bytes.Contains(b, []byte("eng-leads")) {
		t.Errorf("the answer to a respondent names the plan's owner group")
	}
	if d := resp.PlanNews[0].ChangedDay.AsTime(); !d.Equal(bus.Day(t0.Add(3 * 24 * time.Hour))) {
		t.Errorf("changed day %v, want the latest change's", d)
	}
}

// TestMomentsOfTruth: each new lifecycle event makes its template's survey pending after its
// delay, in French and English; a once-per-person moment (candidate) is not asked again, a
// repeatable one (manager change) is asked again at the next reported moment, and its retry
// with the idempotency key is a retry, not a refusal.
func TestMomentsOfTruth(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		ev       pulsev1.LifecycleEvent
		template string
		delay    time.Duration
		repeat   bool
	}{
		{pulsev1.LifecycleEvent_LIFECYCLE_EVENT_CANDIDATE, "candidate", 0, false},
		{pulsev1.LifecycleEvent_LIFECYCLE_EVENT_INTERNAL_MOVE, "internal-move", 30, true},
		{pulsev1.LifecycleEvent_LIFECYCLE_EVENT_MANAGER_CHANGE, "manager-change", 45, true},
		{pulsev1.LifecycleEvent_LIFECYCLE_EVENT_RETURN_FROM_LEAVE, "return-from-leave", 14, true},
		{pulsev1.LifecycleEvent_LIFECYCLE_EVENT_ANNIVERSARY, "anniversary", 0, true},
	} {
		t.Run(tc.template, func(t *testing.T) {
			f.clock.Set(t0)
			sv := f.createSurvey(t, &pulsev1.Survey{TemplateId: tc.template, Audience: "acme/eng"})
			if len(sv.Title.Translations["fr"]) == 0 || len(sv.Title.Translations["en"]) == 0 {
				t.Fatalf("template %s title %v, want French and English", tc.template, sv.Title)
			}
			for _, q := range sv.Questions {
				if q.Text.Translations["fr"] == "" || q.Text.Translations["en"] == "" {
					t.Fatalf("question %s of %s is not in both languages", q.Id, tc.template)
				}
			}
			ref := "person-" + tc.template
			if got := f.trigger(t, tc.ev, ref, "acme/eng/web", timestamppb.New(t0)); !slices.Equal(got, []string{sv.Id}) {
				t.Fatalf("trigger: %v, want [%s]", got, sv.Id)
			}
			at := bus.Day(t0).Add(tc.delay * 24 * time.Hour)
			if at.Before(t0) {
				at = t0 // the first cohort opened at t0
			}
			f.tick(t, at)
			f.clock.Set(at)
			p := pending(t, f, ref, "acme/eng/web", "fr")
			if len(p) != 1 || p[0].SurveyId != sv.Id || p[0].Title != sv.Title.Translations["fr"] {
				t.Fatalf("pending after %d days: %v", tc.delay, p)
			}
			var answers []*pulsev1.Answer
			for _, q := range p[0].Questions {
				switch q.Kind {
				case commonv1.QuestionKind_QUESTION_KIND_SCALE:
					answers = append(answers, scale(q.Id, 4))
				case commonv1.QuestionKind_QUESTION_KIND_ENPS:
					answers = append(answers, enpsAnswer(q.Id, 9))
				case commonv1.QuestionKind_QUESTION_KIND_TEXT:
					answers = append(answers, text(q.Id, "It went well overall"))
				}
			}
			req := &pulsev1.SubmitResponseRequest{SurveyId: sv.Id, Segment: "acme/eng/web", SubmitterRef: ref, IdempotencyKey: "once", Answers: answers}
			resp, err := f.client.SubmitResponse(f.submitter(), req)
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			// A moment of truth's comment opens no thread: HR knows who it asked.
			if len(resp.Threads) != 0 {
				t.Errorf("a lifecycle survey's TEXT answer opened threads: %v", resp.Threads)
			}
			if _, err := f.client.SubmitResponse(f.submitter(), req); err != nil {
				t.Fatalf("retry with the same key: %v", err)
			}
			req.IdempotencyKey = "other"
			_, err = f.client.SubmitResponse(f.submitter(), req)
			if tc.repeat {
				wantStatus(t, err, codes.FailedPrecondition, "submitter_ref")
			} else {
				wantStatus(t, err, codes.AlreadyExists, "submitter_ref")
			}
			if p := pending(t, f, ref, "acme/eng/web", ""); len(p) != 0 {
				t.Fatalf("pending after answering: %v", ids(p))
			}
			// The next moment, two months on.
			next := at.Add(62 * 24 * time.Hour)
			f.clock.Set(next)
			got := f.trigger(t, tc.ev, ref, "acme/eng/web", timestamppb.New(next))
			if !tc.repeat {
				if len(got) != 0 {
					t.Fatalf("a once-per-person moment reported again: %v pending", got)
				}
				return
			}
			if !slices.Equal(got, []string{sv.Id}) {
				t.Fatalf("a repeated moment: %v pending, want [%s]", got, sv.Id)
			}
			at2 := bus.Day(next).Add(tc.delay * 24 * time.Hour)
			f.tick(t, at2)
			f.clock.Set(at2)
			req.IdempotencyKey = ""
			if _, err := f.client.SubmitResponse(f.submitter(), req); err != nil {
				t.Fatalf("answer the second moment: %v", err)
			}
		})
	}
}

// TestRemindersNameNobody: once half of a wave's window has passed, one WaveReminder goes to
// the audience (once, whatever the number of passes), naming nobody; the pending list of a
// person who has not answered says closing_soon, and a person who answered has nothing
// pending. A lifecycle survey's closing_soon follows the person's own window.
func TestRemindersNameNobody(t *testing.T) {
	f := start(t)
	f.tick(t, t0)
	sv := f.createSurvey(t, validSurvey()) // wave 1: t0-1h .. t0-1h+5d
	if n, err := f.svc.Remind(t0); err != nil || n != 0 {
		t.Fatalf("remind at the start of the wave: %d, %v", n, err)
	}
	if p := pending(t, f, "late", "acme/eng/web", ""); len(p) != 1 || p[0].ClosingSoon {
		t.Fatalf("pending at the start: %v, want the wave, not closing soon", p)
	}
	f.submit(t, sv.Id, secretRef, "acme/eng/web", scale("mood", 3))
	half := t0.Add(3 * 24 * time.Hour)
	f.clock.Set(half)
	for i, want := range []int{1, 0} {
		if n, err := f.svc.Remind(half); err != nil || n != want {
			t.Fatalf("remind pass %d: %d, %v; want %d", i, n, err, want)
		}
	}
	var msgs []*eventsv1.WaveReminder
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		msgs = nil
		for _, m := range streamEvents(t, f, events.PulseWaveReminder.All()) {
			var r eventsv1.WaveReminder
			if err := proto.Unmarshal(m.Data(), &r); err != nil {
				return err
			}
			if m.Subject() != events.PulseWaveReminder.Subject(segment.MustParse("acme/eng")) {
				t.Errorf("reminder on %s, want the audience's subject", m.Subject())
			}
			msgs = append(msgs, &r)
		}
		if len(msgs) == 0 {
			return fmt.Errorf("no reminder published")
		}
		return nil
	})
	if len(msgs) != 1 || msgs[0].SurveyId != sv.Id || msgs[0].Wave != 1 || msgs[0].Audience != "acme/eng" {
		t.Fatalf("reminders = %v, want one for wave 1 of %s", msgs, sv.Id)
	}
	if p := pending(t, f, "late", "acme/eng/web", ""); len(p) != 1 || !p[0].ClosingSoon {
		t.Fatalf("pending of a person who has not answered: %v, want closing soon", p)
	}
	if p := pending(t, f, secretRef, "acme/eng/web", ""); len(p) != 0 {
		t.Fatalf("pending of a person who answered: %v", ids(p))
	}

	exit := f.createSurvey(t, &pulsev1.Survey{TemplateId: "exit", Audience: "acme"})
	f.trigger(t, pulsev1.LifecycleEvent_LIFECYCLE_EVENT_LEAVING, "leaver", "acme/eng/web", timestamppb.New(half))
	f.tick(t, half)
	exitOf := func() *pulsev1.PendingSurvey {
		for _, p := range pending(t, f, "leaver", "acme/eng/web", "") {
			if p.SurveyId == exit.Id {
				return p
			}
		}
		return nil
	}
	if p := exitOf(); p == nil || p.ClosingSoon {
		t.Fatalf("exit survey on its first day: %v, want pending, not closing soon", p)
	}
	f.clock.Set(half.Add(8 * 24 * time.Hour))
	if p := exitOf(); p == nil || !p.ClosingSoon {
		t.Fatalf("exit survey after 8 of its 14 days: %v, want closing soon", p)
	}
}
