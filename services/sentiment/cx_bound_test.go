package sentiment_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/metrics"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment"
)

// TestCXSignalForUnknownSegmentIsTerminated: a well-formed customer signal for a segment the
// registry never holds is retried only for CXSegmentWait (here a nanosecond: terminated at its
// second delivery, after the first retry delay), then terminated and counted, so it no longer
// holds the consumer's ack floor; a signal for a registered segment is still recorded.
func TestCXSignalForUnknownSegmentIsTerminated(t *testing.T) {
	f := startConfig(t, func(c *sentiment.Config) {
		c.CXSegmentWait = time.Nanosecond
		c.Ops = host.Ops{MetricsListen: "127.0.0.1:0"}
	})
	f.register(t, "acme/support")
	at := now.Add(-time.Hour)
	for _, seg := range []string{"acme/ghost", "acme/support"} { // the unknown one first: it holds the ack floor
		f.publish(t, events.CXSignal.Subject(segment.MustParse(seg)), events.CXSignal.Type,
			&sentimentv1.CustomerSignal{Segment: seg, Metric: csat, Value: 80, Responses: 7, Time: timestamppb.New(at), SourceId: "zendesk"})
	}
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		c, err := f.js.Consumer(context.Background(), events.CX.Name, events.DurableSentimentCX)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < 2 || info.NumAckPending != 0 || info.NumPending != 0 {
			return fmt.Errorf("ack floor at stream sequence %d of 2, %d pending acks, %d undelivered",
				info.AckFloor.Stream, info.NumAckPending, info.NumPending)
		}
		return nil
	})
	if rows := f.symmetry(t, "acme/support", at, csat); len(rows) != 1 || len(rows[0].Points) != 1 || rows[0].Points[0].CustomerResponses != 7 {
		t.Errorf("registered segment: rows = %v, want its signal of 7 responses", rows)
	}
	url := "http://" + f.svc.MetricsAddr() + "/metrics"
	if n := metricValue(t, url, metrics.CXSignalsExpired.Name+`{service="sentiment"}`); n != 1 {
		t.Errorf("%s = %v, want 1 (the signal for acme/ghost)", metrics.CXSignalsExpired.Name, n)
	}
}
