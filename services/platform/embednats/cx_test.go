package embednats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
)

// TestCXUserPublishesSignalsOnly: the CX user publishes a customer signal on
// voix.cx.<segment> with a Nats-Msg-Id and gets its PubAck (the CX stream stores it, once);
// it cannot publish raw comments, call the JetStream API (read a stream, make a consumer),
// subscribe to signals, comments or the services' inboxes.
func TestCXUserPublishesSignalsOnly(t *testing.T) {
	cxUser := embednats.CXUser("cx", "cx-secret")
	s := natstest.Start(t, service, cxUser)
	svc := natstest.Connect(t, s, nats.UserInfo(service.Name, service.Password)) // creates the streams

	asyncErrs := make(chan error, 10)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(cxUser.Name, cxUser.Password),
		nats.CustomInboxPrefix(embednats.CXInboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { asyncErrs <- err }))
	if err != nil {
		t.Fatalf("cx connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	subject := events.CXSignal.Prefix + ".acme.support"
	signal := func(subj string) *nats.Msg {
		m := nats.NewMsg(subj)
		m.Data = []byte(`{"segment":"acme/support","metric":"CUSTOMER_METRIC_CSAT","value":81,"responses":40,"time":"2026-11-23T12:00:00Z","sourceId":"w48"}`)
		m.Header.Set(bus.HeaderType, events.CXSignal.Type)
		m.Header.Set(jetstream.MsgIDHeader, events.CXSignalID("acme/support", "CUSTOMER_METRIC_CSAT", "2026-11-23T12:00:00Z", "w48"))
		return m
	}
	for i, wantDup := range []bool{false, true} {
		ack, err := js.PublishMsg(ctx, signal(subject))
		if err != nil {
			t.Fatalf("cx publish %d to %s: %v", i, subject, err)
		}
		if ack.Stream != events.CX.Name || ack.Duplicate != wantDup {
			t.Fatalf("cx publish %d: PubAck %+v, want stream %s, duplicate %v", i, ack, events.CX.Name, wantDup)
		}
	}
	info, err := svc.JetStream().Stream(ctx, events.CX.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("the CX stream holds %d messages, want the one signal", n)
	}

	violation := func(what string) {
		t.Helper()
		select {
		case err := <-asyncErrs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("%s: async error %v, want a permissions violation", what, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no permissions violation reported", what)
		}
	}
	// Publishing a forged comment: refused by the server.
	if err := nc.Publish(events.FeedbackSubmitted.Prefix+".acme.support", []byte("forged")); err != nil {
		t.Fatalf("publish call itself failed: %v", err)
	}
	violation("publish on " + events.FeedbackSubmitted.Prefix)
	// The JetStream API, to read a stream or make a consumer: refused (the request gets no
	// answer; the violation says why).
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := js.Stream(short, events.Feedback.Name); err == nil {
		t.Fatal("the cx user read the feedback stream's info")
	}
	cancelShort()
	violation("JetStream API")
	// Subscriptions: signals (its own stream's subjects), comments, the services' inboxes.
	for _, subj := range []string{events.CXSignal.Prefix + ".>", "voix.feedback.>", "_INBOX.>", ">"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe call itself failed: %v", err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-asyncErrs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subj) {
				t.Fatalf("subscribe %s: async error %v, want a permissions violation naming it", subj, err)
			}
		case <-ctx.Done():
			t.Fatalf("subscribe %s: no permissions violation reported", subj)
		}
	}
}
