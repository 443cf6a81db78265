package sentiment

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/cx"
)

// BenchmarkAttentionSymmetry reads the mirror of 50 teams over 52 weeks, two CSAT signals per
// team and week: one read transaction, 2,600 released-aggregate reads and range sums.
func BenchmarkAttentionSymmetry(b *testing.B) {
	s, _ := startBench(b)
	const teams, weeks = 50, 52
	first := benchNow.AddDate(0, 0, -7*(weeks-1))
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		for i := range teams {
			seg := segment.MustParse(fmt.Sprintf("acme/dept%d/team%d", i%5, i))
			if err := cx.UnsafeRegister(tx, seg, 12, 1); err != nil {
				return err
			}
			for w := range weeks {
				for j := range 2 {
					sig := cx.Signal{Segment: seg, Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT, Value: float64(60 + (i+w+j)%40),
						Responses: 6, Time: first.AddDate(0, 0, 7*w).Add(time.Duration(j) * time.Hour), SourceID: fmt.Sprint("s", j)}
					if _, err := cx.UnsafePut(tx, sig); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var windows []window.Window
	for w := window.Of(window.Week, first); !w.Start.After(benchNow); w = w.Next() {
		windows = append(windows, w)
	}
	b.ResetTimer()
	for b.Loop() {
		rows, err := s.attentionSymmetry(segment.MustParse("acme"), 0, windows)
		if err != nil || len(rows) != teams {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// BenchmarkRecordCustomerSignal records signals one after the other through gRPC: one bbolt
// commit each.
func BenchmarkRecordCustomerSignal(b *testing.B) {
	s, env := startBench(b)
	if err := s.host.DB.Update(func(tx *bolt.Tx) error {
		return cx.UnsafeRegister(tx, segment.MustParse("acme/support"), 12, 1)
	}); err != nil {
		b.Fatal(err)
	}
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(b, s.Addr()))
	ctx := env.As(context.Background(), auth.RoleAdmin)
	i := 0
	for b.Loop() {
		i++
		_, err := client.RecordCustomerSignal(ctx, &sentimentv1.RecordCustomerSignalRequest{Signal: &sentimentv1.CustomerSignal{
			Segment: "acme/support", Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT, Value: 80, Responses: 5,
			Time: timestamppb.New(benchNow), SourceId: fmt.Sprint("b", i)}})
		if err != nil {
			b.Fatal(err)
		}
	}
}
