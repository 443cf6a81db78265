package sentiment

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

var benchNow = time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)

func startBench(b *testing.B) (*Service, *servicetest.Env) {
	b.Helper()
	env := servicetest.New(b)
	s, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(),
		Now: func() time.Time { return benchNow },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, env
}

// responseEvent is a pulse response of person i in seg with three answers.
func responseEvent(b *testing.B, secret *anonymity.Secret, i int, seg segment.Path, at time.Time) bus.Event {
	m := &eventsv1.ResponseSubmitted{
		ResponseId: fmt.Sprint("r", i), SurveyId: "s", Wave: 1, Segment: seg.String(),
		Answers: []*eventsv1.ScoredAnswer{
			{Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension(1 + i%8), Value: int32(1 + i%5)},
			{Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension(1 + (i+3)%8), Value: int32(1 + (i/5)%5)},
			{Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: int32(i % 11)},
		},
	}
	for _, c := range secret.Contributors(fmt.Sprint("person-", i%20000), seg, at) {
		m.Contributors = append(m.Contributors, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return bus.Event{ID: fmt.Sprint("bench/", i), Type: events.PulseResponded.Type, Source: "bench", Time: at, Data: data}
}

// teams is an organisation of 10 departments of 19 teams: with the departments and the
// organisation, 200 segments.
func teams() []segment.Path {
	var out []segment.Path
	for d := range 10 {
		for t := range 19 {
			out = append(out, segment.MustParse(fmt.Sprintf("acme/d%d/t%d", d, t)))
		}
	}
	return out
}

// BenchmarkApplyResponse applies survey responses (3 answers, 3 ancestors, 3 windows) the way
// the consumer does, one event per bbolt transaction ("serial") and through db.Batch from 64
// concurrent appliers ("batched").
func BenchmarkApplyResponse(b *testing.B) {
	s, _ := startBench(b)
	segs := teams()
	var n atomic.Int64
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			i := int(n.Add(1))
			if _, err := consumer.Apply(s.host.DB, "bench", s.applyResponse, responseEvent(b, s.host.Secret, i, segs[i%len(segs)], benchNow)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("grouped", func(b *testing.B) {
		// One transaction per consumerGroup events, as the live consumer applies them.
		group := make([]bus.Event, 0, consumerGroup)
		apply := func() {
			if _, err := consumer.ApplyGroupFlush(s.host.DB, "bench", s.grouped(s.applyResponse), func(tx *bolt.Tx) error { return s.flushWriter(tx) }, group); err != nil {
				b.Fatal(err)
			}
			group = group[:0]
		}
		for b.Loop() {
			i := int(n.Add(1))
			group = append(group, responseEvent(b, s.host.Secret, i, segs[i%len(segs)], benchNow))
			if len(group) == cap(group) {
				apply()
			}
		}
		if len(group) > 0 {
			apply()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("batched", func(b *testing.B) {
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				if _, err := consumer.ApplyBatch(s.host.DB, "bench", s.applyResponse, responseEvent(b, s.host.Secret, i, segs[i%len(segs)], benchNow)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
