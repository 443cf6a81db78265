package embednats_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/natstest"
)

var (
	service = embednats.User{Name: "svc", Password: "svc-secret"}
	portal  = embednats.PortalUser("portal", "portal-secret", "acme")
)

func TestPortalUserSeesAggregatesOnly(t *testing.T) {
	s := natstest.Start(t, service, portal)
	// The service user has every permission, JetStream included, on the global account.
	svc := natstest.Connect(t, s, nats.UserInfo(service.Name, service.Password))

	asyncErrs := make(chan error, 10)
	pc, err := nats.Connect(s.ClientURL(),
		nats.UserInfo(portal.Name, portal.Password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { asyncErrs <- err }))
	if err != nil {
		t.Fatalf("portal connect: %v", err)
	}
	defer pc.Close()

	updates, err := pc.SubscribeSync("voix.sentiment.updated.acme.>")
	if err != nil {
		t.Fatalf("portal subscribe updated: %v", err)
	}
	if err := pc.Flush(); err != nil {
		t.Fatalf("portal flush: %v", err)
	}
	select {
	case err := <-asyncErrs:
		t.Fatalf("allowed subscription reported an error: %v", err)
	default:
	}

	ev := bus.Event{ID: "ev-1", Type: "voix.sentiment.updated.v1", Source: "voix/sentiment",
		Subject: "voix.sentiment.updated.acme.eng", Data: []byte{1, 2, 3}}
	if err := svc.Publish(context.Background(), ev); err != nil {
		t.Fatalf("service publish: %v", err)
	}
	m, err := updates.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("portal did not receive the update: %v", err)
	}
	got, err := bus.EventFromNATSMsg(m)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.ID != ev.ID || got.Type != ev.Type || !bytes.Equal(got.Data, ev.Data) {
		t.Fatalf("portal got %+v, want %+v", got, ev)
	}

	// Raw comments, and every other organisation (the whole tree included), are refused by
	// the server.
	for _, subj := range []string{"voix.feedback.>", "voix.sentiment.updated.globex.>", "voix.sentiment.updated.>", "voix.sentiment.alert.*", "voix.sentiment.updated.acmex"} {
		if _, err := pc.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe call itself failed: %v", err)
		}
		select {
		case err := <-asyncErrs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subj) {
				t.Fatalf("async error = %v, want a permissions violation for %s", err, subj)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no permissions violation reported for %s", subj)
		}
	}
	// Its own organisation's alerts and the organisation's own aggregate arrive.
	for _, c := range []struct{ sub, pub string }{
		{"voix.sentiment.alert.acme.>", "voix.sentiment.alert.acme.eng"},
		{"voix.sentiment.updated.acme", "voix.sentiment.updated.acme"},
	} {
		sub, err := pc.SubscribeSync(c.sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.Flush(); err != nil {
			t.Fatal(err)
		}
		ev := bus.Event{ID: "ev-" + c.pub, Type: "voix.sentiment.x.v1", Source: "voix/sentiment", Subject: c.pub, Data: []byte{1}}
		if err := svc.Publish(context.Background(), ev); err != nil {
			t.Fatalf("service publish: %v", err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("portal subscribed to %s did not receive %s: %v", c.sub, c.pub, err)
		}
	}

	// And the portal cannot publish, not even to the subjects it reads.
	if err := pc.Publish("voix.sentiment.updated.acme", []byte("forged")); err != nil {
		t.Fatalf("publish call itself failed: %v", err)
	}
	select {
	case err := <-asyncErrs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("async error = %v, want a permissions violation for publish", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation reported for a portal publish")
	}
}

func TestUsersRequireAuthentication(t *testing.T) {
	s := natstest.Start(t, service)
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("anonymous connect succeeded on a server with users")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connect: %v, want an authorization error", err)
	}
}

func TestStartRequiresStoreDir(t *testing.T) {
	if _, err := embednats.Start(embednats.Config{Port: -1}); err == nil || !strings.Contains(err.Error(), "StoreDir") {
		t.Fatalf("Start without StoreDir: %v, want an error naming StoreDir", err)
	}
}

func TestLoggerAndSyncAlways(t *testing.T) {
	var buf syncBuffer
	s, err := embednats.Start(embednats.Config{
		Port: -1, StoreDir: t.TempDir(), SyncAlways: true,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if jc := s.JetStreamConfig(); jc == nil || !jc.SyncAlways {
		t.Errorf("JetStream config %+v, want SyncAlways", jc)
	}
	natstest.Stop(s)
	if !strings.Contains(buf.String(), "nats-server") {
		t.Fatalf("server logs not routed to the logger; got %q", buf.String())
	}
}
