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
// fsynced, the services user runs JetStream, and the portal user reads aggregates only.
func TestDeployNATSConfig(t *testing.T) {
	t.Setenv("VOIX_NATS_SERVICES_PASSWORD", "svc-pass")
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
}
