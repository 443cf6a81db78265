package pulse_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// BenchmarkSubmitResponse answers one survey through gRPC from many goroutines, each response
// from a distinct person, with the store on disk (bbolt fsyncs; Batch coalesces the commits)
// and the outbox relay publishing to JetStream meanwhile.
func BenchmarkSubmitResponse(b *testing.B) {
	f := start(b)
	sv := f.createSurvey(b, validSurvey())
	ctx := f.submitter()
	var n atomic.Int64
	// 64 × GOMAXPROCS requests in flight, like a fleet of bots: enough to fill a bbolt Batch
	// (store.MaxBatchSize = 64) before its timer, so the commit rate, not the timer, limits.
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := f.client.SubmitResponse(ctx, &pulsev1.SubmitResponseRequest{
				SurveyId:     sv.Id,
				Segment:      "acme/eng/platform",
				SubmitterRef: fmt.Sprintf("bench-%d", n.Add(1)),
				Answers:      fullAnswers(),
			})
			if err != nil {
				b.Errorf("SubmitResponse: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
}

// BenchmarkGetResults reads the results of a closed wave of n respondents (1,000 and 10,000)
// in 50 segments (every question answered, one in ten with a comment), through gRPC as an
// admin, without headcounts (no TEXT answer can be shown) and with every segment's headcount
// registered (the comments of the shown groups are listed: the first page of 50 is read).
// With cache=off every call computes the results afresh, as a call on an open wave does after
// new responses; cache=on is the steady state. It reports the p99 of the calls as p99-ms, the
// comments of the response (texts), those of all pages (listed) and the response's size
// (bytes). The responses are written into the store while the service is down, as
// SubmitResponse stores them.
func BenchmarkGetResults(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, heads := range []bool{false, true} {
			for _, cache := range []bool{false, true} {
				b.Run(fmt.Sprintf("respondents=%d/headcounts=%v/cache=%v", n, heads, cache), func(b *testing.B) {
					f, ctx, req := resultsFixture(b, n, heads)
					f.svc.ResultsCache(cache)
					benchResults(b, f, ctx, req)
				})
			}
		}
	}
}

// BenchmarkGetResultsParallel is BenchmarkGetResults' 10,000 respondents with headcounts,
// cache on, read by 8 goroutines per CPU at once: the percentiles of the calls' durations
// (p50-ms, p90-ms, p99-ms, max-ms) and the calls per second.
func BenchmarkGetResultsParallel(b *testing.B) {
	f, ctx, req := resultsFixture(b, 10_000, true)
	var mu sync.Mutex
	var took []time.Duration
	b.SetParallelism(8)
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t := time.Now()
			if _, err := f.client.GetResults(ctx, req); err != nil {
				b.Errorf("GetResults: %v", err)
				return
			}
			mine = append(mine, time.Since(t))
		}
		mu.Lock()
		took = append(took, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	}
	slices.Sort(took)
	if len(took) == 0 {
		return
	}
	for _, p := range []int{50, 90, 99} {
		b.ReportMetric(ms(took[(len(took)-1)*p/100]), fmt.Sprintf("p%d-ms", p))
	}
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// resultsFixture is a service holding a closed wave of n respondents (see
// BenchmarkGetResults), and the request and context that read it.
func resultsFixture(b *testing.B, n int, heads bool) (*fixture, context.Context, *pulsev1.GetResultsRequest) {
	f := start(b)
	if heads {
		f.upsertSegment(b, "acme/eng", uint32(n))
		for s := range 50 {
			f.upsertSegment(b, fmt.Sprintf("acme/eng/s%02d", s), uint32(n/50))
		}
	}
	sv := f.createSurvey(b, validSurvey())
	rng := rand.New(rand.NewPCG(12, 4))
	f.restart(b, func(db *bolt.DB) {
		err := db.Update(func(tx *bolt.Tx) error {
			for i := range n {
				if err := store.UnsafePutResponse(tx, benchResponse(rng, sv.Id, i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("write responses: %v", err)
		}
	})
	f.clock.Set(afterWave1)
	ctx := f.as(auth.RoleAdmin)
	req := &pulsev1.GetResultsRequest{SurveyId: sv.Id}
	if r := f.results(b, ctx, req); r.Total.Respondents != uint32(n) {
		b.Fatalf("respondents %d, want %d", r.Total.Respondents, n)
	}
	return f, ctx, req
}

func benchResults(b *testing.B, f *fixture, ctx context.Context, req *pulsev1.GetResultsRequest) {
	r, err := f.client.GetResults(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	texts := 0
	for _, g := range append(r.Children, r.Total) {
		for _, q := range g.Questions {
			texts += len(q.Comments)
		}
	}
	listed := 0
	for _, g := range groupsOf(f.results(b, ctx, req)) {
		for _, q := range g.GetQuestions() {
			listed += len(q.Comments)
		}
	}

	var took []time.Duration
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		if _, err := f.client.GetResults(ctx, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t))
	}
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		// The process's CPU per call: the server's and the client's (decoding the response).
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	}
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
	b.ReportMetric(float64(texts), "texts")
	b.ReportMetric(float64(listed), "listed")
	b.ReportMetric(float64(proto.Size(r)), "bytes")
}

// benchResponse is response number i of the results benchmarks' wave: a scale, an eNPS and
// two choice answers in one of 50 teams over three days, and a text answer for one in ten.
func benchResponse(rng *rand.Rand, surveyID string, i int) store.Response {
	r := store.Response{
		ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SurveyID: surveyID, Wave: 1,
		Segment: fmt.Sprintf("acme/eng/s%02d", i%50),
		Day:     time.Date(2026, 3, 10+rng.IntN(3), 0, 0, 0, 0, time.UTC),
		Answers: []store.Answer{
			{QuestionID: "mood", Kind: store.QuestionScale, Value: int32(1 + rng.IntN(5))},
			{QuestionID: "enps", Kind: store.QuestionENPS, Value: int32(rng.IntN(11))},
			{QuestionID: "tools", Kind: store.QuestionChoice, OptionIDs: []string{"ci", "wiki"}[:1+rng.IntN(2)]},
			{QuestionID: "team", Kind: store.QuestionChoice, OptionIDs: []string{[]string{"yes", "no"}[rng.IntN(2)]}},
		},
	}
	if i%10 == 0 {
		r.Answers = append(r.Answers, store.Answer{QuestionID: "say", Kind: store.QuestionText, Text: fmt.Sprintf("comment number %d", i)})
	}
	return r
}
