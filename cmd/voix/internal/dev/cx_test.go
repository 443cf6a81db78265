package dev

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// TestCXUserFeedsTheMirror: the cx user of tokens.json publishes a customer signal on
// voix.cx.<segment>, gets its PubAck, and the sentiment service records it (HR sees it in
// GetAttentionSymmetry); the same user cannot publish a comment.
func TestCXUserFeedsTheMirror(t *testing.T) {
	s := startSuite(t, t.TempDir(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr := servicetest.WithToken(ctx, s.Tokens.HR)
	pc := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
	for _, seg := range []string{"acme", "acme/support"} {
		if _, err := pc.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: seg, Headcount: 12}); err != nil {
			t.Fatalf("UpsertSegment %s: %v", seg, err)
		}
	}

	errs := make(chan error, 8)
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSCXUser, s.Tokens.NATSCXPassword),
		nats.CustomInboxPrefix(embednats.CXInboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("cx user %q: %v", s.Tokens.NATSCXUser, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	at := s.cfg.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	m := nats.NewMsg(events.CXSignal.Prefix + ".acme.support")
	m.Data = fmt.Appendf(nil, `{"segment":"acme/support","metric":"CUSTOMER_METRIC_CSAT","value":81,"responses":40,"time":%q,"sourceId":"survey-tool"}`, at)
	m.Header.Set(bus.HeaderType, events.CXSignal.Type)
	m.Header.Set(jetstream.MsgIDHeader, events.CXSignalID("acme/support", "CUSTOMER_METRIC_CSAT", at, "survey-tool"))
	if ack, err := js.PublishMsg(ctx, m); err != nil || ack.Stream != events.CX.Name {
		t.Fatalf("cx user publishes a signal: %+v, %v", ack, err)
	}

	sc := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, s.Sentiment.Addr()))
	poll.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
		r, err := sc.GetAttentionSymmetry(hr, &sentimentv1.GetAttentionSymmetryRequest{
			SegmentPrefix: "acme", StartTime: timestamppb.New(s.cfg.Now().Add(-14 * 24 * time.Hour))})
		if err != nil {
			return err
		}
		for _, row := range r.Rows {
			for _, p := range row.Points {
				if row.Segment == "acme/support" && !p.CustomerHidden && p.CustomerResponses == 40 {
					return nil
				}
			}
		}
		return errors.New("the signal is not in GetAttentionSymmetry yet")
	})

	if err := nc.Publish(events.FeedbackSubmitted.Prefix+".acme.support", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("cx user publishing a comment: %v, want a permissions violation", err)
		}
	case <-ctx.Done():
		t.Fatal("the cx user published a comment")
	}
}
