package feedback_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// BenchmarkSubmitFeedback submits comments through gRPC from many goroutines, each from a
// distinct person with an idempotency key, with the store on disk (bbolt fsyncs; Batch
// coalesces the commits) and the outbox relay publishing to JetStream meanwhile.
func BenchmarkSubmitFeedback(b *testing.B) {
	f := start(b)
	ctx := f.as(auth.RoleSubmitter)
	var n atomic.Int64
	b.SetParallelism(64) // a fleet of bots: enough to fill a bbolt Batch before its timer
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := f.client.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{
				Segment:        "acme/eng/platform",
				Text:           "On manque de reconnaissance pour le travail fait en astreinte, contactez moi à jo@acme.example",
				SubmitterRef:   fmt.Sprintf("bench-%d", i),
				IdempotencyKey: fmt.Sprintf("key-%d", i),
			})
			if err != nil {
				b.Errorf("SubmitFeedback: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	// CPU of the whole process (service, NATS server, the relay and the clients) per
	// acknowledged comment: steadier than submissions/s on a shared machine.
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
}
