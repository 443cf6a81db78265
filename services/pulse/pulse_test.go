package pulse_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

const secretRef = "U0SECRETREF42"

func TestCreateSurveyStoresDefaultsAndOpensWaveOne(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.Questions[qMood].Id = ""   // generated: "q1" ...
	in.Questions[qEnps].Id = "q1" // ... is taken, so "q2"
	in.Questions[qSay].Id = ""    // "q5"
	sv := f.createSurvey(t, in)

	if sv.Id == "" || sv.State != pulsev1.SurveyState_SURVEY_STATE_ACTIVE || sv.Kind != pulsev1.SurveyKind_SURVEY_KIND_PULSE {
		t.Fatalf("id %q, state %v, kind %v: want an id, ACTIVE, PULSE", sv.Id, sv.State, sv.Kind)
	}
	var ids []string
	for _, q := range sv.Questions {
		ids = append(ids, q.Id)
	}
	if want := []string{"q2", "q1", "tools", "team", "q5"}; !slices.Equal(ids, want) {
		t.Fatalf("question ids = %v, want %v", ids, want)
	}
	if got := sv.Schedule.ResponseWindow.AsDuration(); got != 5*24*time.Hour {
		t.Fatalf("response_window = %v, want 5 days", got)
	}
	if sv.MinGroupSize != 5 || sv.CommentThreshold != 10 {
		t.Fatalf("min_group_size %d, comment_threshold %d: want 5 and 10", sv.MinGroupSize, sv.CommentThreshold)
	}
	if len(sv.Waves) != 1 {
		t.Fatalf("waves = %d, want 1", len(sv.Waves))
	}
	w := sv.Waves[0]
	opens := t0.Add(-time.Hour)
	if w.Number != 1 || !w.OpensAt.AsTime().Equal(opens) || !w.ClosesAt.AsTime().Equal(opens.Add(5*24*time.Hour)) || w.Closed {
		t.Fatalf("wave 1 = %v, want number 1 open %v..%v", w, opens, opens.Add(5*24*time.Hour))
	}
	if !slices.Equal(w.QuestionIds, ids) {
		t.Fatalf("wave asks %v, want every question %v", w.QuestionIds, ids)
	}

	got, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: sv.Id})
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	if !proto.Equal(got.Survey, sv) {
		t.Fatalf("GetSurvey = %v\nwant what CreateSurvey returned: %v", got.Survey, sv)
	}

	// k above the default threshold raises the default threshold with it.
	big := validSurvey()
	big.MinGroupSize = 20
	if sv := f.createSurvey(t, big); sv.CommentThreshold != 20 {
		t.Fatalf("comment_threshold with k=20 = %d, want 20", sv.CommentThreshold)
	}

	msg := nextEvent(t, f, events.PulseWaveOpened.Subject(segment.MustParse("acme/eng")))
	if id := msg.Headers().Get(bus.HeaderMsgID); id != events.WaveOpenedID(sv.Id, 1) {
		t.Fatalf("Nats-Msg-Id = %q, want %s", id, events.WaveOpenedID(sv.Id, 1))
	}
	if typ := msg.Headers().Get(bus.HeaderType); typ != events.PulseWaveOpened.Type {
		t.Fatalf("ce-type = %q", typ)
	}
	var ev eventsv1.WaveOpened
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatalf("decode WaveOpened: %v", err)
	}
	want := &eventsv1.WaveOpened{SurveyId: sv.Id, Wave: 1, Audience: "acme/eng", OpensAt: w.OpensAt, ClosesAt: w.ClosesAt}
	if !proto.Equal(&ev, want) {
		t.Fatalf("WaveOpened = %v, want %v", &ev, want)
	}
}

func TestCreateSurveyIdempotencyKey(t *testing.T) {
	f := start(t)
	req := &pulsev1.CreateSurveyRequest{Survey: validSurvey(), IdempotencyKey: "create-1"}
	first, err := f.client.CreateSurvey(f.hr(), req)
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	again, err := f.client.CreateSurvey(f.hr(), req)
	if err != nil {
		t.Fatalf("CreateSurvey retry: %v", err)
	}
	if again.Survey.Id != first.Survey.Id {
		t.Fatalf("retry created survey %s, want the first one %s", again.Survey.Id, first.Survey.Id)
	}
	// Another caller's key space is its own.
	admin, err := f.client.CreateSurvey(f.as(auth.RoleAdmin), req)
	if err != nil {
		t.Fatalf("CreateSurvey as admin: %v", err)
	}
	if admin.Survey.Id == first.Survey.Id {
		t.Fatal("admin's call with hr's key returned hr's survey")
	}
	// The same key for another survey is a caller bug, not a retry.
	changed := &pulsev1.CreateSurveyRequest{Survey: validSurvey(), IdempotencyKey: "create-1"}
	changed.Survey.Title = lt("en", "Another survey")
	_, err = f.client.CreateSurvey(f.hr(), changed)
	wantStatus(t, err, codes.InvalidArgument, "idempotency_key")

	list, err := f.client.ListSurveys(f.as(auth.RoleAdmin), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatalf("ListSurveys: %v", err)
	}
	if len(list.Surveys) != 2 {
		t.Fatalf("%d surveys stored, want 2 (hr's once, admin's)", len(list.Surveys))
	}
}

func TestGetSurveyVisibility(t *testing.T) {
	f := start(t)
	mk := func(audience string) string {
		s := validSurvey()
		s.Audience = audience
		return f.createSurvey(t, s).Id
	}
	org, eng, sales := mk("acme"), mk("acme/eng"), mk("acme/sales")
	other := servicetest.WithToken(context.Background(), f.env.OtherHR)
	subtree := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
		code codes.Code
	}{
		{"hr of the org", f.hr(), sales, codes.OK},
		{"admin", f.as(auth.RoleAdmin), eng, codes.OK},
		{"hr of another org", other, eng, codes.NotFound},
		{"subtree manager, own subtree", subtree, eng, codes.OK},
		{"subtree manager, survey of the whole org", subtree, org, codes.OK},
		{"subtree manager, sibling subtree", subtree, sales, codes.NotFound},
		{"submitter", f.submitter(), eng, codes.PermissionDenied},
		{"unknown id", f.hr(), "NOSUCH", codes.NotFound},
		{"id missing", f.hr(), "", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.GetSurvey(tc.ctx, &pulsev1.GetSurveyRequest{SurveyId: tc.id})
			field := ""
			if tc.code == codes.InvalidArgument {
				field = "survey_id"
			}
			wantStatus(t, err, tc.code, field)
		})
	}
}

func TestListSurveys(t *testing.T) {
	f := start(t)
	admin := f.as(auth.RoleAdmin)
	for _, audience := range []string{"acme/eng/web", "acme", "acme/sales", "acme/eng", "acme-corp", "acmex/eng"} {
		s := validSurvey()
		s.Audience = audience
		if _, err := f.client.CreateSurvey(admin, &pulsev1.CreateSurveyRequest{Survey: s}); err != nil {
			t.Fatalf("CreateSurvey %s: %v", audience, err)
		}
	}
	all := func(ctx context.Context, prefix string, size int32) []string {
		t.Helper()
		var out []string
		token := ""
		for pages := 0; ; pages++ {
			resp, err := f.client.ListSurveys(ctx, &pulsev1.ListSurveysRequest{SegmentPrefix: prefix, PageSize: size, PageToken: token})
			if err != nil {
				t.Fatalf("ListSurveys %s page %d: %v", prefix, pages, err)
			}
			if len(resp.Surveys) > int(size) {
				t.Fatalf("page of %d surveys, asked %d", len(resp.Surveys), size)
			}
			for _, s := range resp.Surveys {
				out = append(out, s.Audience)
			}
			if token = resp.NextPageToken; token == "" {
				return out
			}
		}
	}
	if got, want := all(f.hr(), "acme", 1), []string{"acme", "acme/eng", "acme/eng/web", "acme/sales"}; !slices.Equal(got, want) {
		t.Fatalf("acme by pages of 1 = %v, want %v", got, want)
	}
	if got, want := all(admin, "acme", 3), []string{"acme", "acme/eng", "acme/eng/web", "acme/sales"}; !slices.Equal(got, want) {
		t.Fatalf("acme by pages of 3 = %v, want %v", got, want)
	}
	// The survey of all acme asks the people of acme/eng too: it is listed for acme/eng.
	subtree := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if got, want := all(subtree, "acme/eng", 50), []string{"acme", "acme/eng", "acme/eng/web"}; !slices.Equal(got, want) {
		t.Fatalf("acme/eng = %v, want %v", got, want)
	}

	first, err := f.client.ListSurveys(f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme/eng", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("ListSurveys acme/eng: %v, next %q", err, first.GetNextPageToken())
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  *pulsev1.ListSurveysRequest
		code codes.Code
		fld  string
	}{
		{"token of another prefix", f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme/sales", PageToken: first.NextPageToken}, codes.InvalidArgument, "page_token"},
		{"token garbage", f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme", PageToken: "!!"}, codes.InvalidArgument, "page_token"},
		{"page size 201", f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme", PageSize: 201}, codes.InvalidArgument, "page_size"},
		{"page size negative", f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme", PageSize: -1}, codes.InvalidArgument, "page_size"},
		{"prefix missing", f.hr(), &pulsev1.ListSurveysRequest{}, codes.InvalidArgument, "segment_prefix"},
		{"prefix outside token", f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme-corp"}, codes.PermissionDenied, "segment_prefix"},
		{"subtree manager above subtree", subtree, &pulsev1.ListSurveysRequest{SegmentPrefix: "acme"}, codes.PermissionDenied, "segment_prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListSurveys(tc.ctx, tc.req)
			wantStatus(t, err, tc.code, tc.fld)
		})
	}
}

func TestUpsertSegment(t *testing.T) {
	f := start(t)
	resp, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng", Headcount: 42})
	if err != nil {
		t.Fatalf("UpsertSegment: %v", err)
	}
	if s := resp.Segment; s.Path != "acme/eng" || s.Headcount != 42 || !s.UpdateTime.AsTime().Equal(t0) {
		t.Fatalf("segment = %v, want acme/eng, 42, updated %v", s, t0)
	}
	resp, err = f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng", Headcount: 0})
	if err != nil || resp.Segment.Headcount != 0 {
		t.Fatalf("UpsertSegment to 0: %v, %v", err, resp)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  *pulsev1.UpsertSegmentRequest
		code codes.Code
		fld  string
	}{
		{"admin anywhere", f.as(auth.RoleAdmin), &pulsev1.UpsertSegmentRequest{Path: "globex", Headcount: 10_000_000}, codes.OK, ""},
		{"headcount too big", f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme", Headcount: 10_000_001}, codes.InvalidArgument, "headcount"},
		{"path missing", f.hr(), &pulsev1.UpsertSegmentRequest{Headcount: 3}, codes.InvalidArgument, "path"},
		{"path malformed", f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/", Headcount: 3}, codes.InvalidArgument, "path"},
		{"path outside token", servicetest.WithToken(context.Background(), f.env.OtherHR), &pulsev1.UpsertSegmentRequest{Path: "acme", Headcount: 3}, codes.PermissionDenied, "path"},
		{"manager", f.as(auth.RoleManager), &pulsev1.UpsertSegmentRequest{Path: "acme", Headcount: 3}, codes.PermissionDenied, ""},
		{"submitter", f.submitter(), &pulsev1.UpsertSegmentRequest{Path: "acme", Headcount: 3}, codes.PermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.UpsertSegment(tc.ctx, tc.req)
			wantStatus(t, err, tc.code, tc.fld)
		})
	}
}

func TestSecondResponseIsAlreadyExists(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	other := f.createSurvey(t, validSurvey())
	submit := func(surveyID, ref, seg string) (*pulsev1.SubmitResponseResponse, error) {
		return f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
			SurveyId: surveyID, Segment: seg, SubmitterRef: ref, Answers: fullAnswers(),
		})
	}
	first, err := submit(sv.Id, "U1", "acme/eng")
	if err != nil {
		t.Fatalf("first response: %v", err)
	}
	if first.ResponseId == "" || first.Wave != 1 {
		t.Fatalf("receipt = %v, want a response id and wave 1", first)
	}
	// Same person, even claiming another segment: one response per wave.
	_, err = submit(sv.Id, "U1", "acme/eng/web")
	wantStatus(t, err, codes.AlreadyExists, "")
	if _, err := submit(sv.Id, "U2", "acme/eng"); err != nil {
		t.Fatalf("another person: %v", err)
	}
	if _, err := submit(other.Id, "U1", "acme/eng"); err != nil {
		t.Fatalf("same person, another survey: %v", err)
	}
}

func TestIdempotentRetryStoresOneResponse(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	req := &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng", SubmitterRef: secretRef, IdempotencyKey: "try-1", Answers: fullAnswers(),
	}
	first, err := f.client.SubmitResponse(f.submitter(), req)
	if err != nil || first.ResponseId == "" {
		t.Fatalf("SubmitResponse: %v, %v", err, first)
	}
	retry, err := f.client.SubmitResponse(f.submitter(), req)
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if retry.ResponseId != "" || retry.Wave != 1 {
		t.Fatalf("retry receipt = %v, want wave 1 and no response id (nothing links a person to a response)", retry)
	}
	req.IdempotencyKey = "try-2"
	_, err = f.client.SubmitResponse(f.submitter(), req)
	wantStatus(t, err, codes.AlreadyExists, "")
	req.IdempotencyKey = ""
	_, err = f.client.SubmitResponse(f.submitter(), req)
	wantStatus(t, err, codes.AlreadyExists, "")

	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db := openStore(t, f)
	var responses, markers int
	var pendingEvents []string
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		if responses, err = store.CountResponses(tx, sv.Id, 1); err != nil {
			return err
		}
		markers = tx.Bucket(store.Markers).Stats().KeyN
		return tx.Bucket([]byte(outbox.BucketName)).ForEach(func(_, v []byte) error {
			rec, err := outbox.DecodeRecord(v)
			if err != nil {
				return err
			}
			if rec.Type == events.PulseResponded.Type {
				pendingEvents = append(pendingEvents, rec.ID)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read store: %v", err)
	}
	if responses != 1 || markers != 1 {
		t.Fatalf("store holds %d responses and %d markers, want 1 and 1", responses, markers)
	}
	// Every event is published or still in the outbox (the relay stopped with Close); a record
	// may be both if Close came between the publish ack and the delete, hence distinct ids.
	responded := map[string]bool{}
	for _, id := range publishedIDs(t, f, events.PulseResponded.All()) {
		responded[id] = true
	}
	for _, id := range pendingEvents {
		responded[id] = true
	}
	if len(responded) != 1 {
		t.Fatalf("ResponseSubmitted events %v, want 1", responded)
	}
}

func TestClosedOrFutureWaveIsFailedPrecondition(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.Schedule.FirstOpensAt = timestamppb.New(t0.Add(time.Hour))
	in.Schedule.ResponseWindow = durationpb.New(2 * time.Hour)
	sv := f.createSurvey(t, in)
	submit := func(ref string, wave uint32) error {
		_, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
			SurveyId: sv.Id, Wave: wave, Segment: "acme/eng", SubmitterRef: ref, Answers: fullAnswers(),
		})
		return err
	}
	wantStatus(t, submit("U1", 0), codes.FailedPrecondition, "wave")
	wantStatus(t, submit("U1", 1), codes.FailedPrecondition, "wave 1")
	if n := len(pending(t, f, "U1", "acme/eng", "")); n != 0 {
		t.Fatalf("%d pending before the wave opens, want 0", n)
	}

	f.clock.Set(t0.Add(time.Hour)) // opens_at: open
	if err := submit("U1", 0); err != nil {
		t.Fatalf("at opens_at: %v", err)
	}
	f.clock.Set(t0.Add(3*time.Hour - time.Nanosecond))
	if err := submit("U2", 1); err != nil {
		t.Fatalf("just before closes_at: %v", err)
	}
	f.clock.Set(t0.Add(3 * time.Hour)) // closes_at: closed
	wantStatus(t, submit("U3", 0), codes.FailedPrecondition, "wave")
	wantStatus(t, submit("U3", 1), codes.FailedPrecondition, "wave 1")
	if n := len(pending(t, f, "U3", "acme/eng", "")); n != 0 {
		t.Fatalf("%d pending after the wave closed, want 0", n)
	}
	got, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: sv.Id})
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	if !got.Survey.Waves[0].Closed {
		t.Fatal("wave 1 not shown closed after closes_at")
	}
}

func TestResponseSubmittedEvent(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	receipt, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng/platform", SubmitterRef: secretRef, IdempotencyKey: "k-" + secretRef, Answers: fullAnswers(),
	})
	if err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	msg := nextEvent(t, f, events.PulseResponded.Subject(segment.MustParse("acme/eng/platform")))
	h := msg.Headers()
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for k, want := range map[string]string{
		bus.HeaderMsgID:  events.RespondedID(receipt.ResponseId),
		bus.HeaderType:   events.PulseResponded.Type,
		bus.HeaderSource: events.PulseResponded.Source,
		bus.HeaderTime:   day.Format(time.RFC3339Nano),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var ev eventsv1.ResponseSubmitted
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatalf("decode ResponseSubmitted: %v", err)
	}
	if ev.ResponseId != receipt.ResponseId || ev.SurveyId != sv.Id || ev.Wave != 1 || ev.Segment != "acme/eng/platform" {
		t.Fatalf("event = %v, want response %s of survey %s wave 1 in acme/eng/platform", &ev, receipt.ResponseId, sv.Id)
	}
	if !ev.SubmittedDay.AsTime().Equal(day) {
		t.Fatalf("submitted_day = %v, want %v", ev.SubmittedDay.AsTime(), day)
	}
	wantAnswers := []*eventsv1.ScoredAnswer{
		{QuestionId: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Value: 4},
		{QuestionId: "enps", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: 9},
		{QuestionId: "tools", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_ECOSYSTEM, OptionIds: []string{"ci", "wiki"}},
		{QuestionId: "team", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS, OptionIds: []string{"yes"}},
	}
	if len(ev.Answers) != 5 {
		t.Fatalf("%d answers in the event, want 5", len(ev.Answers))
	}
	for i, want := range wantAnswers {
		if !proto.Equal(ev.Answers[i], want) {
			t.Errorf("answer %d = %v, want %v", i, ev.Answers[i], want)
		}
	}
	text := ev.Answers[4]
	if text.QuestionId != "say" || text.Kind != commonv1.QuestionKind_QUESTION_KIND_TEXT || text.Text == "" {
		t.Fatalf("text answer = %v", text)
	}
	if strings.Contains(text.Text, "jane.doe@acme.example") {
		t.Fatalf("text answer %q was not scrubbed of its e-mail address", text.Text)
	}

	// Contributor tags: the ones the shared secret gives for this person, segment and day,
	// covering the segment and each ancestor.
	secret, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(f.env.DataDir))
	if err != nil {
		t.Fatalf("load secret: %v", err)
	}
	seg, err := segment.Parse("acme/eng/platform")
	if err != nil {
		t.Fatalf("parse segment: %v", err)
	}
	want := secret.Contributors(secretRef, seg, t0)
	if len(ev.Contributors) != len(want) || len(want) == 0 {
		t.Fatalf("%d contributor tags, want %d", len(ev.Contributors), len(want))
	}
	covered := map[string]bool{}
	for i, c := range ev.Contributors {
		// Sealed in the event (a reader of the stream cannot link two of one person's
		// events); the secret opens it to the person's tag.
		opened, err := secret.OpenTag(c.Segment, c.Window, c.Tag)
		if c.Segment != want[i].Segment || c.Window != want[i].Window || err != nil || !bytes.Equal(opened, want[i].Tag) {
			t.Errorf("contributor %d = %v (opened %x, %v), want %v", i, c, opened, err, want[i])
		}
		if bytes.Contains(c.Tag, want[i].Tag[:8]) {
			t.Errorf("contributor %d carries its tag in clear", i)
		}
		covered[c.Segment] = true
	}
	for _, s := range []string{"acme", "acme/eng", "acme/eng/platform"} {
		if !covered[s] {
			t.Errorf("no contributor tag for %s", s)
		}
	}
	if needle, found := findRef(msg.Data()); found {
		t.Fatalf("event payload carries the submitter ref (%s)", needle)
	}
}

func TestSubmitterRefIsStoredNowhere(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	pending(t, f, secretRef, "acme/eng/platform", "fr")
	req := &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng/platform", SubmitterRef: secretRef, IdempotencyKey: "k-" + secretRef, Answers: fullAnswers(),
	}
	for range 2 {
		if _, err := f.client.SubmitResponse(f.submitter(), req); err != nil {
			t.Fatalf("SubmitResponse: %v", err)
		}
	}
	nextEvent(t, f, events.PulseResponded.All()) // published: it went through the outbox
	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	dbFile := filepath.Join(f.env.DataDir, "pulse", "pulse.db")
	data, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatalf("read %s: %v", dbFile, err)
	}
	if len(data) == 0 {
		t.Fatal("empty store file")
	}
	if needle, found := findRef(data); found {
		t.Fatalf("%s holds the submitter ref (%s)", dbFile, needle)
	}
	// And nowhere else in the data dir or in the NATS store.
	for _, dir := range []string{f.env.DataDir, natstest.StoreDir(t, f.env.NATS)} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if needle, found := findRef(b); found {
				t.Errorf("%s holds the submitter ref (%s)", path, needle)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", dir, err)
		}
	}
}

func TestListPendingSurveys(t *testing.T) {
	f := start(t)
	mk := func(audience string, opensIn, window time.Duration) string {
		s := validSurvey()
		s.Audience = audience
		s.Schedule.FirstOpensAt = timestamppb.New(t0.Add(opensIn))
		s.Schedule.ResponseWindow = durationpb.New(window)
		return f.createSurvey(t, s).Id
	}
	org := mk("acme", -time.Hour, 72*time.Hour)
	team := mk("acme/eng", -time.Hour, 24*time.Hour) // closes first: listed first
	mk("acme/sales", -time.Hour, 24*time.Hour)       // another subtree
	mk("acme/eng", time.Hour, 24*time.Hour)          // not open yet

	got := pending(t, f, secretRef, "acme/eng/platform", "fr")
	if len(got) != 2 || got[0].SurveyId != team || got[1].SurveyId != org {
		t.Fatalf("pending = %v, want [%s %s]", ids(got), team, org)
	}
	p := got[0]
	if p.Title != "Pouls de la semaine" || p.Wave != 1 || !p.ClosesAt.AsTime().Equal(t0.Add(23*time.Hour)) {
		t.Fatalf("pending survey = %v", p)
	}
	if len(p.Questions) != 5 {
		t.Fatalf("%d questions, want 5", len(p.Questions))
	}
	if q := p.Questions[0]; q.Id != "mood" || q.Text != "Ma charge de travail est gérable" || q.Language != "fr" || q.Kind != commonv1.QuestionKind_QUESTION_KIND_SCALE {
		t.Fatalf("question 0 = %v, want mood in French", q)
	}
	if q := p.Questions[1]; q.Text != "Would you recommend working here?" || q.Language != "en" {
		t.Fatalf("question 1 = %v, want the English fallback", q)
	}
	if q := p.Questions[2]; !q.Multiple || len(q.Options) != 3 || q.Options[1].Id != "vpn" || q.Options[1].Label != "VPN (fr)" {
		t.Fatalf("question 2 = %v, want 3 French options, multiple", q)
	}
	if en := pending(t, f, secretRef, "acme/eng/platform", ""); en[0].Title != "Weekly pulse" {
		t.Fatalf("title without a language = %q, want the default (English)", en[0].Title)
	}

	if _, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: team, Segment: "acme/eng/platform", SubmitterRef: secretRef, Answers: fullAnswers(),
	}); err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	if got := pending(t, f, secretRef, "acme/eng/platform", "fr"); len(got) != 1 || got[0].SurveyId != org {
		t.Fatalf("pending after answering %s = %v, want [%s]", team, ids(got), org)
	}
	if got := pending(t, f, "U-someone-else", "acme/eng/platform", "fr"); len(got) != 2 {
		t.Fatalf("another person's pending = %v, want both", ids(got))
	}

	for _, tc := range []struct {
		name string
		req  *pulsev1.ListPendingSurveysRequest
		code codes.Code
		fld  string
	}{
		{"ref missing", &pulsev1.ListPendingSurveysRequest{Segment: "acme/eng"}, codes.InvalidArgument, "submitter_ref"},
		{"segment missing", &pulsev1.ListPendingSurveysRequest{SubmitterRef: "U1"}, codes.InvalidArgument, "segment"},
		{"segment outside token", &pulsev1.ListPendingSurveysRequest{SubmitterRef: "U1", Segment: "globex"}, codes.PermissionDenied, "segment"},
		{"language unknown", &pulsev1.ListPendingSurveysRequest{SubmitterRef: "U1", Segment: "acme", Language: "de"}, codes.InvalidArgument, "language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListPendingSurveys(f.submitter(), tc.req)
			wantStatus(t, err, tc.code, tc.fld)
		})
	}
}

func TestRestartKeepsSurveysAndMarkers(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	req := &pulsev1.SubmitResponseRequest{SurveyId: sv.Id, Segment: "acme/eng", SubmitterRef: "U1", Answers: fullAnswers()}
	if _, err := f.client.SubmitResponse(f.submitter(), req); err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	svc, err := pulse.Start(context.Background(), pulse.Config{
		Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, svc.Addr()))
	if _, err := client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: sv.Id}); err != nil {
		t.Fatalf("GetSurvey after restart: %v", err)
	}
	_, err = client.SubmitResponse(f.submitter(), req)
	wantStatus(t, err, codes.AlreadyExists, "")
}

// --- helpers ---

func pending(t *testing.T, f *fixture, ref, seg, lang string) []*pulsev1.PendingSurvey {
	t.Helper()
	resp, err := f.client.ListPendingSurveys(f.submitter(), &pulsev1.ListPendingSurveysRequest{SubmitterRef: ref, Segment: seg, Language: lang})
	if err != nil {
		t.Fatalf("ListPendingSurveys: %v", err)
	}
	return resp.Surveys
}

func ids(ps []*pulsev1.PendingSurvey) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.SurveyId)
	}
	return out
}

// openStore opens the closed service's bbolt file read-only.
func openStore(t testing.TB, f *fixture) *bolt.DB {
	t.Helper()
	path := filepath.Join(f.env.DataDir, "pulse", "pulse.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// findRef looks for secretRef in b in any encoding servicetest.FindSecret knows.
func findRef(b []byte) (string, bool) { return servicetest.FindSecret(b, secretRef) }

// nextEvent reads the first event on subject, waiting for the outbox relay to publish it.
func nextEvent(t testing.TB, f *fixture, subject string) jetstream.Msg {
	return f.env.NextEvent(t, events.Pulse.Name, subject)
}

// publishedIDs lists the event ids the service's stream holds on subject.
func publishedIDs(t testing.TB, f *fixture, subject string) []string {
	return f.env.PublishedIDs(t, events.Pulse.Name, subject)
}

// streamEvents reads every event the service's stream holds on subject, in stream order.
func streamEvents(t testing.TB, f *fixture, subject string) []jetstream.Msg {
	t.Helper()
	n := publishedCount(t, f, subject)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := f.env.JetStream(t).OrderedConsumer(ctx, events.Pulse.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("consumer on %s: %v", subject, err)
	}
	msgs := make([]jetstream.Msg, 0, n)
	for range n {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", subject, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// publishedCount is the number of events the service's stream holds on subject.
func publishedCount(t testing.TB, f *fixture, subject string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if f.js == nil {
		f.js = f.env.JetStream(t)
	}
	st, err := f.js.Stream(ctx, events.Pulse.Name)
	if err != nil {
		t.Fatalf("stream %s: %v", events.Pulse.Name, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}
