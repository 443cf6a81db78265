package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/tlsconf"
	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

// TestConnectOverMutualTLS: against a NATS server that requires TLS and verifies client
// certificates, the bus connects with --nats-tls-ca and a client certificate, and a client
// without the certificate does not get a connection.
func TestConnectOverMutualTLS(t *testing.T) {
	pki := tlstest.New(t)
	tlsCfg, err := tlsconf.Server(pki.ServerCert, pki.ServerKey, pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		TLS: true, TLSVerify: true, TLSConfig: tlsCfg, TLSTimeout: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), TLSCA: pki.CA, TLSCert: pki.ClientCert, TLSKey: pki.ClientKey})
	if err != nil {
		t.Fatalf("connect with CA and client certificate: %v", err)
	}
	defer b.Close()
	if !b.Connected() {
		t.Fatal("not connected with CA and client certificate")
	}
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("JetStream over TLS: %v", err)
	}
	if !b.Conn().TLSRequired() {
		t.Fatal("connection does not report TLS")
	}

	noCert, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), TLSCA: pki.CA})
	if err == nil {
		defer noCert.Close()
		if noCert.Connected() {
			t.Fatal("connected without a client certificate to a server that verifies clients")
		}
	}
}
