package pulse_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// writeSchema1 writes, into path, a store as the release before the store's own records left
// it: schema "1", API and event messages as values.
func writeSchema1(t *testing.T, path string, sv *pulsev1.Survey, segments map[string]*pulsev1.Segment, responses []*eventsv1.ResponseSubmitted) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk := map[string]*bolt.Bucket{}
		for _, name := range []string{"meta", "surveys", "survey_audience", "survey_keys", "segments", "markers", "responses", "schedules", "invitations", "wave_headcounts"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bk[name] = b
		}
		put := func(b string, k, v []byte) {
			if err == nil {
				err = bk[b].Put(k, v)
			}
		}
		put("meta", []byte("schema"), []byte("1"))
		put("surveys", []byte(sv.Id), marshal(sv))
		put("survey_audience", append(append([]byte(sv.Audience), 0), sv.Id...), nil)
		// Wave 1's opening was announced by the old release.
		put("schedules", []byte(sv.Id), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 0))
		for p, s := range segments {
			put("segments", []byte(p), marshal(s))
		}
		for _, r := range responses {
			k := binary.BigEndian.AppendUint32(append([]byte(r.SurveyId), 0), r.Wave)
			put("responses", append(k, r.ResponseId...), marshal(r))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A store written before the store had records of its own (schema 1: pulsev1.Survey,
// pulsev1.Segment and eventsv1.ResponseSubmitted as values) is migrated when the service
// starts: its survey reads as it was stored, is listed, takes responses and counts the old
// ones in its results with the old headcounts, and the registry's entries start at version 1,
// announced once.
func TestSchema1StoreIsMigrated(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	dbPath := filepath.Join(f.env.DataDir, "pulse", "pulse.db")
	opens := t0.Add(-time.Hour)
	old := validSurvey()
	old.Id = "OLDSURVEY"
	old.Kind = pulsev1.SurveyKind_SURVEY_KIND_PULSE
	old.State = pulsev1.SurveyState_SURVEY_STATE_ACTIVE
	old.Schedule.ResponseWindow = durationpb.New(5 * 24 * time.Hour)
	old.MinGroupSize, old.CommentThreshold = 5, 10
	old.CreateTime = timestamppb.New(t0.Add(-2 * time.Hour))
	old.Waves = []*pulsev1.Wave{{
		Number: 1, OpensAt: timestamppb.New(opens), ClosesAt: timestamppb.New(opens.Add(5 * 24 * time.Hour)),
		QuestionIds: []string{"mood", "enps", "tools", "team", "say"},
	}}
	setDay := timestamppb.New(t0.Add(-24 * time.Hour))
	segments := map[string]*pulsev1.Segment{
		"acme/eng":     {Path: "acme/eng", Headcount: 40, UpdateTime: setDay},
		"acme/eng/web": {Path: "acme/eng/web", Headcount: 15, UpdateTime: setDay},
		"acme/eng/api": {Path: "acme/eng/api", Headcount: 0, UpdateTime: setDay}, // registered, then unregistered
	}
	var responses []*eventsv1.ResponseSubmitted
	for i, mood := range []int32{5, 4, 4, 3, 2, 1} {
		responses = append(responses, &eventsv1.ResponseSubmitted{
			ResponseId: fmt.Sprintf("OLDRESPONSE%02d", i), SurveyId: old.Id, Wave: 1, Segment: "acme/eng/web",
			Answers: []*eventsv1.ScoredAnswer{
				{QuestionId: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Value: mood},
				{QuestionId: "tools", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_ECOSYSTEM, OptionIds: []string{"ci", "vpn"}},
				{QuestionId: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS, Text: fmt.Sprintf("old comment %d", i)},
			},
			SubmittedDay: timestamppb.New(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)),
		})
	}
	writeSchema1(t, dbPath, old, segments, responses)

	f.launch(t)
	got, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: old.Id})
	if err != nil {
		t.Fatalf("GetSurvey of the old survey: %v", err)
	}
	if !proto.Equal(got.Survey, old) {
		t.Fatalf("old survey after migration = %v\nwant %v", got.Survey, old)
	}
	listed, err := f.client.ListSurveys(f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme/eng/web"})
	if err != nil || len(listed.Surveys) != 1 || listed.Surveys[0].Id != old.Id {
		t.Fatalf("ListSurveys acme/eng/web after migration: %v, %v", listed, err)
	}
	f.submit(t, old.Id, "NEW1", "acme/eng/web", scale("mood", 5))

	// The registry starts with the old headcounts, at version 1, announced; a segment without
	// headcount has no version and no event.
	want := []string{events.SegmentUpsertedID("acme/eng", 1), events.SegmentUpsertedID("acme/eng/web", 1)}
	eventIDs(t, f, events.PulseSegmentUpserted.All(), len(want))
	if ids := publishedIDs(t, f, events.PulseSegmentUpserted.All()); !slices.Equal(ids, want) {
		t.Fatalf("SegmentUpserted after migration %v, want %v", ids, want)
	}
	if ev := segmentEvent(t, f, "acme/eng/web", 1); ev.Headcount != 15 || ev.Path != "acme/eng/web" {
		t.Fatalf("acme/eng/web v1 = %v, want headcount 15", ev)
	}
	if s := f.upsertSegment(t, "acme/eng/api", 8); s.Headcount != 8 {
		t.Fatalf("UpsertSegment acme/eng/api = %v", s)
	}
	want = append(want, events.SegmentUpsertedID("acme/eng/api", 1))
	if ids := eventIDs(t, f, events.PulseSegmentUpserted.All(), len(want)); !slices.Equal(ids, want) {
		t.Fatalf("SegmentUpserted events %v, want %v", ids, want)
	}

	f.clock.Set(afterWave1)
	r := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: old.Id})
	if r.Total.Respondents != 7 || r.Total.Headcount != 40 {
		t.Fatalf("total after migration: %d respondents of %d, want 7 of 40", r.Total.Respondents, r.Total.Headcount)
	}
	web := child(r, "acme/eng/web")
	if web == nil || web.Hidden || web.Respondents != 7 || web.Headcount != 15 {
		t.Fatalf("acme/eng/web after migration: %v, want 7 respondents of 15", web)
	}
	if mood := question(web, "mood"); mood.Responses != 7 || !near(mood.Mean, float64(5+4+4+3+2+1+5)/7) {
		t.Fatalf("mood after migration: %v", mood)
	}
	if tools := question(web, "tools"); tools.Distribution[0].Value != "ci" || tools.Distribution[0].Count != 6 || tools.Distribution[1].Count != 6 {
		t.Fatalf("tools after migration: %v", tools.Distribution)
	}
	if say := question(web, "say"); len(say.Comments) != 6 {
		t.Fatalf("comments after migration: %d, want the 6 old ones", len(say.Comments))
	}

	// The file is at the new schema: the next start migrates nothing.
	f.restart(t, func(db *bolt.DB) {
		err := db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(store.Meta).Get([]byte("schema")); string(v) != store.SchemaVersion {
				return fmt.Errorf("schema %q, want %q", v, store.SchemaVersion)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if _, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: old.Id}); err != nil {
		t.Fatalf("GetSurvey after a second start: %v", err)
	}
}
