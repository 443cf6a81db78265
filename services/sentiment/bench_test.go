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
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
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

// BenchmarkGetHeatmap reads the heatmap of an organisation's 10 departments (each row 8
// dimensions, decided on the whole 200-segment tree) through gRPC, after one million
// responses over 26 weeks from 20,000 people. Loading takes a few minutes: run it alone,
// go test -run '^$' -bench GetHeatmap -benchtime 200x.
func BenchmarkGetHeatmap(b *testing.B) {
	const perTx = 500
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	s, env := startBench(b)
	segs := teams()
	for start := 0; start < total; start += perTx {
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			for i := start; i < start+perTx; i++ {
				at := benchNow.AddDate(0, 0, -7*(i%26))
				if err := s.applyResponse(tx, responseEvent(b, s.host.Secret, i, segs[i%len(segs)], at)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	release := time.Now()
	for {
		var taken int
		if err := s.host.DB.Update(func(tx *bolt.Tx) error {
			var err error
			_, taken, err = s.unsafeFlush(tx, tx, maxDirtyPerFlush)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if taken < maxDirtyPerFlush {
			break
		}
	}
	b.Logf("loaded %d events; released every tree in %v", total, time.Since(release))
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(b, s.Addr()))
	ctx := env.As(context.Background(), auth.RoleHR)
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.GetHeatmap(ctx, &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme"})
		if err != nil || len(resp.Rows) != 10 || resp.Rows[0].Cells[0].Hidden {
			b.Fatalf("GetHeatmap: %v, %d rows, first cell %v", err, len(resp.GetRows()), resp.GetRows())
		}
	}
}
