package pulse_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// randomResponses writes count random responses to waves 1..waves of survey id into db, as
// SubmitResponse stores them: random segments under acme/eng (some groups small, some
// large), random days of the wave (today included), every kind of answer, some skipped.
func randomResponses(t *testing.T, db *bolt.DB, rng *rand.Rand, id string, waves, count int) {
	t.Helper()
	segs := []string{"acme/eng", "acme/eng/web", "acme/eng/api", "acme/eng/api/db", "acme/eng/tiny", "acme/eng/ops", "acme/eng/ops/oncall"}
	weights := []int{3, 30, 25, 8, 2, 20, 4}
	pick := func() string {
		n := rng.IntN(92)
		for i, w := range weights {
			if n < w {
				return segs[i]
			}
			n -= w
		}
		return segs[0]
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for range count {
			w := 1 + rng.IntN(waves)
			opens := t0.Add(-time.Hour).Add(time.Duration(w-1) * 7 * 24 * time.Hour)
			day := time.Date(opens.Year(), opens.Month(), opens.Day()+rng.IntN(5), 0, 0, 0, 0, time.UTC)
			r := store.Response{ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SurveyID: id, Wave: uint32(w), Segment: pick(), Day: day}
			if rng.IntN(4) > 0 {
				r.Answers = append(r.Answers, store.Answer{QuestionID: "mood", Kind: store.QuestionScale, Value: int32(1 + rng.IntN(5))})
			}
			if rng.IntN(5) > 0 {
				r.Answers = append(r.Answers, store.Answer{QuestionID: "enps", Kind: store.QuestionENPS, Value: int32(rng.IntN(11))})
			}
			if rng.IntN(3) > 0 {
				var ids []string
				for _, o := range []string{"ci", "vpn", "wiki"} {
					if rng.IntN(2) == 0 {
						ids = append(ids, o)
					}
				}
				r.Answers = append(r.Answers, store.Answer{QuestionID: "tools", Kind: store.QuestionChoice, OptionIDs: ids})
			}
			if rng.IntN(3) > 0 {
				r.Answers = append(r.Answers, store.Answer{QuestionID: "team", Kind: store.QuestionChoice, OptionIDs: []string{[]string{"yes", "no"}[rng.IntN(2)]}})
			}
			if rng.IntN(3) == 0 {
				r.Answers = append(r.Answers, store.Answer{QuestionID: "say", Kind: store.QuestionText, Text: fmt.Sprintf("text %d", rng.IntN(1000))})
			}
			if err := store.UnsafePutResponse(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write responses: %v", err)
	}
}

// sortComments puts the comments of every question in one order: GetResults shuffles them.
func sortComments(r *pulsev1.GetResultsResponse) *pulsev1.GetResultsResponse {
	for _, g := range append([]*pulsev1.GroupResult{r.Total}, r.Children...) {
		for _, q := range g.GetQuestions() {
			slices.SortFunc(q.Comments, func(a, b *pulsev1.TextAnswer) int {
				return strings.Compare(fmt.Sprint(a.Wave, a.Text), fmt.Sprint(b.Wave, b.Text))
			})
		}
	}
	return r
}

// compareResults reads every view of the survey from the tallies and by decoding every
// response (the computation before the tallies), and fails unless they are equal. It returns
// how many views showed a group and how many hid one.
func compareResults(t *testing.T, f *fixture, id string, waves uint32) (shown, hidden int) {
	t.Helper()
	ctx := f.as(auth.RoleAdmin)
	for first := uint32(1); first <= waves; first++ {
		for last := first; last <= waves; last++ {
			for _, prefix := range []string{"", "acme/eng", "acme/eng/api", "acme/eng/ops", "acme/eng/none"} {
				req := &pulsev1.GetResultsRequest{SurveyId: id, FirstWave: first, LastWave: last, SegmentPrefix: prefix}
				f.svc.ResultsFromResponses(true)
				want := sortComments(f.results(t, ctx, req))
				f.svc.ResultsFromResponses(false)
				got := sortComments(f.results(t, ctx, req))
				if !proto.Equal(got, want) {
					t.Fatalf("waves %d..%d under %q: from tallies\n%v\nfrom responses\n%v", first, last, prefix, got, want)
				}
				for _, g := range append([]*pulsev1.GroupResult{got.Total}, got.Children...) {
					if g.Hidden {
						hidden++
					} else {
						shown++
					}
				}
			}
		}
	}
	return shown, hidden
}

// GetResults from the tallies equals GetResults computed from every response, on random
// data: closed waves, ranges of waves, prefixes, live results of an open wave (days before
// today only), hidden groups and questions, comments.
func TestTalliesGiveTheSameResultsAsResponses(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := start(t)
			in := validSurvey()
			in.LiveResults = true
			sv := f.createSurvey(t, in)
			for _, h := range []struct {
				path string
				n    uint32
			}{{"acme/eng/web", 40}, {"acme/eng/api", 30}, {"acme/eng/ops", 25}} {
				if _, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: h.path, Headcount: h.n}); err != nil {
					t.Fatalf("UpsertSegment: %v", err)
				}
			}
			f.tick(t, t0.Add(7*24*time.Hour-time.Hour))  // wave 2 opens
			f.tick(t, t0.Add(14*24*time.Hour-time.Hour)) // wave 3 opens
			rng := rand.New(rand.NewPCG(seed, 77))
			f.restart(t, func(db *bolt.DB) { randomResponses(t, db, rng, sv.Id, 3, 150+rng.IntN(300)) })
			// Wave 3 open, two days in: live results count its first two days.
			f.clock.Set(t0.Add(16 * 24 * time.Hour))
			shown, hidden := compareResults(t, f, sv.Id, 3)
			if shown == 0 || hidden == 0 {
				t.Fatalf("%d groups shown, %d hidden: the data does not test both", shown, hidden)
			}
		})
	}
}

// A schema 2 file (responses, no tallies) is migrated at start: the tallies and texts are
// built from the stored responses, the schema becomes 3, and results from the tallies equal
// results from the responses.
func TestMigrationFromSchema2BuildsTallies(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.LiveResults = true
	sv := f.createSurvey(t, in)
	if _, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng/web", Headcount: 40}); err != nil {
		t.Fatalf("UpsertSegment: %v", err)
	}
	f.tick(t, t0.Add(7*24*time.Hour-time.Hour)) // wave 2 opens
	rng := rand.New(rand.NewPCG(9, 9))
	written := 0
	f.restart(t, func(db *bolt.DB) {
		randomResponses(t, db, rng, sv.Id, 2, 300)
		// Back to schema 2's layout: the responses stay, tallies and texts go.
		err := db.Update(func(tx *bolt.Tx) error {
			written = tx.Bucket(store.Responses).Stats().KeyN
			for _, b := range []store.Bucket{store.Tallies, store.Texts} {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
			return tx.Bucket(store.Meta).Put([]byte("schema"), []byte("2"))
		})
		if err != nil {
			t.Fatalf("make schema 2: %v", err)
		}
	})
	if written != 300 {
		t.Fatalf("%d responses stored, want 300", written)
	}
	var schema string
	var waveTallies int
	f.restart(t, func(db *bolt.DB) {
		err := db.View(func(tx *bolt.Tx) error {
			schema = string(tx.Bucket(store.Meta).Get([]byte("schema")))
			for w := uint32(1); w <= 2; w++ {
				err := store.ForEachTally(tx, sv.Id, w, time.Time{}, func(_ string, tl *store.Tally) error {
					waveTallies += tl.Respondents
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if schema != "3" {
		t.Fatalf("schema after start %q, want 3", schema)
	}
	if waveTallies != 300 {
		t.Fatalf("tallies count %d respondents, want 300", waveTallies)
	}
	f.clock.Set(t0.Add(9 * 24 * time.Hour)) // wave 2 open, live
	if shown, _ := compareResults(t, f, sv.Id, 2); shown == 0 {
		t.Fatal("no group shown: the data does not test the numbers")
	}
	// New responses after the migration are counted on top of the migrated tallies.
	f.submit(t, sv.Id, "after-migration", "acme/eng/web", fullAnswers()...)
	f.clock.Set(t0.Add(15 * 24 * time.Hour)) // wave 2 closed
	compareResults(t, f, sv.Id, 2)
}

// A tally is what its responses say (counts, sums, sums of squares), and decodes from its
// binary form to the same; a truncated one does not decode.
func TestTallyRoundTrip(t *testing.T) {
	var want store.Tally
	rs := []store.Response{
		{Segment: "acme/eng", Answers: []store.Answer{{QuestionID: "m", Kind: store.QuestionScale, Value: 4}, {QuestionID: "c", Kind: store.QuestionChoice, OptionIDs: []string{"a", "b"}}}},
		{Segment: "acme/eng", Answers: []store.Answer{{QuestionID: "m", Kind: store.QuestionScale, Value: 2}, {QuestionID: "e", Kind: store.QuestionENPS, Value: 10}}},
	}
	for _, r := range rs {
		want.Add(r)
	}
	b, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got store.Tally
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	for n := range len(b) {
		var cut store.Tally
		if cut.UnmarshalBinary(b[:n]) == nil {
			t.Fatalf("a tally cut to %d of %d bytes decodes", n, len(b))
		}
	}
	m := got.Questions["m"]
	if got.Respondents != 2 || m.Answers != 2 || m.Sum != 6 || m.SumSq != 20 || m.Buckets["4"] != 1 || m.Buckets["2"] != 1 ||
		got.Questions["c"].Buckets["b"] != 1 || got.Questions["e"].SumSq != 100 {
		t.Fatalf("tally %s", b)
	}
}
