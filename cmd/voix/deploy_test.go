package main

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

// TestDeployNATSConfig starts a real server from deploy/nats/nats-1.conf (clustering turned off,
// ports and store dir moved to the test's) and checks what production relies on: every write
// fsynced, the services user runs JetStream, the portal user reads aggregates only, and the cx
// user publishes customer signals only.
func TestDeployNATSConfig(t *testing.T) {
	t.Setenv("VOIX_NATS_SERVICES_PASSWORD", "svc-pass")
	t.Setenv("VOIX_NATS_CX_PASSWORD", "cx-pass")
	t.Setenv("VOIX_NATS_PORTAL_ACME_PASSWORD", "portal-pass")
	t.Setenv("VOIX_NATS_PORTAL_GLOBEX_PASSWORD", "globex-pass")
	t.Setenv("VOIX_NATS_SYS_PASSWORD", "sys-pass")
	pki := tlstest.New(t)
	t.Setenv("NATS_TLS_CERT", pki.ServerCert)
	t.Setenv("NATS_TLS_KEY", pki.ServerKey)
	t.Setenv("NATS_TLS_CA", pki.CA)
	for i := 1; i <= 3; i++ {
		path := filepath.Join("..", "..", "deploy", "nats", "nats-"+string(rune('0'+i))+".conf")
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !opts.SyncAlways {
			t.Errorf("%s: sync_interval is not always: acknowledged events could be lost in a crash", path)
		}
		if opts.HTTPHost != "127.0.0.1" {
			t.Errorf("%s: monitoring listens on %q: it has no authentication, keep it on loopback", path, opts.HTTPHost)
		}
		if len(opts.Routes) != 3 || opts.Cluster.Name != "voix" {
			t.Errorf("%s: want 3 routes in cluster voix, got %d routes in %q", path, len(opts.Routes), opts.Cluster.Name)
		}
		if opts.TLSConfig == nil {
			t.Errorf("%s: client connections without TLS", path)
		}
		if c := opts.Cluster.TLSConfig; c == nil || c.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Errorf("%s: routes without mutual TLS: any host could join the cluster", path)
		}
	}

	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats", "nats-1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster = server.ClusterOpts{}
	opts.Routes = nil
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })

	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("services", "svc-pass")); err == nil {
		t.Fatal("connected without trusting the deployment's CA: is TLS on?")
	}
	svc, err := nats.Connect(s.ClientURL(), nats.UserInfo("services", "svc-pass"), nats.RootCAs(pki.CA))
	if err != nil {
		t.Fatalf("services user: %v", err)
	}
	defer svc.Close()
	js, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SENTIMENT", Subjects: []string{"voix.sentiment.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("services user cannot create a stream: %v", err)
	}

	errs := make(chan error, 4)
	portal, err := nats.Connect(s.ClientURL(), nats.UserInfo("portal-acme", "portal-pass"), nats.RootCAs(pki.CA),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("portal user: %v", err)
	}
	defer portal.Close()
	ok, err := portal.SubscribeSync("voix.sentiment.updated.acme.>")
	if err != nil {
		t.Fatal(err)
	}
	// Raw comments and other organisations are refused.
	for _, subj := range []string{"voix.feedback.>", "voix.sentiment.updated.>", "voix.sentiment.updated.globex"} {
		if _, err := portal.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		portal.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), subj) {
				t.Fatalf("want a permissions violation for %s, got %v", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the portal user's subscription to %s was accepted", subj)
		}
	}
	if _, err := js.Publish(ctx, "voix.sentiment.updated.acme.eng", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := ok.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("portal did not receive an aggregate update: %v", err)
	}
	if err := portal.Publish("voix.sentiment.updated.acme", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	portal.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("want a publish permissions violation, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the portal user could publish a forged update")
	}

	// The CX user publishes customer signals on voix.cx.<segment> with a Nats-Msg-Id and gets
	// the PubAck on its own inboxes; nothing else.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CX", Subjects: []string{"voix.cx.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	cxErrs := make(chan error, 8)
	cx, err := nats.Connect(s.ClientURL(), nats.UserInfo("cx", "cx-pass"), nats.RootCAs(pki.CA), nats.CustomInboxPrefix("_INBOX_cx"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { cxErrs <- err }))
	if err != nil {
		t.Fatalf("cx user: %v", err)
	}
	defer cx.Close()
	cxjs, err := jetstream.New(cx)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("voix.cx.acme.support")
	m.Data = []byte(`{"segment":"acme/support","metric":"CUSTOMER_METRIC_CSAT","value":81,"responses":40,"time":"2026-11-23T12:00:00Z","sourceId":"w48"}`)
	m.Header.Set("ce-type", "voix.cx.v1")
	m.Header.Set(jetstream.MsgIDHeader, "cx.signal/acme/support/CUSTOMER_METRIC_CSAT/2026-11-23T12:00:00Z/w48")
	if ack, err := cxjs.PublishMsg(ctx, m); err != nil || ack.Stream != "CX" {
		t.Fatalf("cx user publishes a signal: ack %+v, %v", ack, err)
	}
	cxViolation := func(what string) {
		t.Helper()
		select {
		case err := <-cxErrs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("%s: want a permissions violation, got %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the cx user was allowed", what)
		}
	}
	if err := cx.Publish("voix.feedback.submitted.acme.support", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	cx.Flush()
	cxViolation("publish a comment")
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := cxjs.Stream(short, "CX"); err == nil {
		t.Fatal("the cx user read a stream's info")
	}
	cancel()
	cxViolation("JetStream API")
	for _, subj := range []string{"voix.cx.>", "voix.feedback.>", "_INBOX.>"} {
		if _, err := cx.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		cx.Flush()
		cxViolation("subscribe " + subj)
	}
}
