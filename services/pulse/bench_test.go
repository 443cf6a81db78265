package pulse_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
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
