package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/tlsconf"
	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

// TestStackWithMutualTLS runs the feedback service with mutual TLS and certificates made in
// the test, and the gateway in front of it: the gateway dialing with a client certificate
// reaches it (its /readyz checks the service's health through that connection), a gateway
// without one does not, and a direct client needs both its certificate and a bearer token.
func TestStackWithMutualTLS(t *testing.T) {
	pki := tlstest.New(t)
	e := servicetest.New(t)
	serverTLS, err := tlsconf.Server(pki.ServerCert, pki.ServerKey, pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fb, err := feedback.Start(ctx, feedback.Config{
		Listen: "127.0.0.1:0", DataDir: e.DataDir, NATS: e.NATSConfig(), Ops: host.Ops{TLS: serverTLS},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fb.Close() })

	startGateway := func(certFile, keyFile string) string {
		t.Helper()
		clientTLS, err := tlsconf.Client(pki.CA, certFile, keyFile, "")
		if err != nil {
			t.Fatal(err)
		}
		gw, err := gateway.Start(ctx, gateway.Config{
			Listen: "127.0.0.1:0", DataDir: e.DataDir, SigningSecret: []byte("s3cret"), FeedbackAddr: fb.Addr(),
			Token: e.Tokens[auth.RoleSubmitter], ServiceTLS: clientTLS,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gw.Close() })
		return "http://" + gw.Addr() + "/readyz"
	}
	ready := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(startGateway(pki.ClientCert, pki.ClientKey)); code != http.StatusOK {
		t.Fatalf("gateway with a client certificate: /readyz %d %q, want 200", code, body)
	}
	if code, body := ready(startGateway("", "")); code != http.StatusServiceUnavailable {
		t.Fatalf("gateway without a client certificate: /readyz %d %q, want 503", code, body)
	}

	call := func(creds credentials.TransportCredentials, token string) error {
		cc, err := grpc.NewClient(fb.Addr(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		_, err = feedbackv1.NewFeedbackServiceClient(cc).GetFeedback(servicetest.WithToken(ctx, token), &feedbackv1.GetFeedbackRequest{FeedbackId: "no-such-comment"})
		return err
	}
	withCert, err := tlsconf.Client(pki.CA, pki.ClientCert, pki.ClientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := call(credentials.NewTLS(withCert), e.Tokens[auth.RoleHR]); status.Code(err) != codes.NotFound {
		t.Fatalf("mTLS client with an hr token: %v, want NotFound from the handler (authenticated)", err)
	}
	if err := call(credentials.NewTLS(withCert), "voix_not-a-token"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("mTLS client with a bad token: %v, want Unauthenticated: TLS does not replace tokens", err)
	}
	if err := call(insecure.NewCredentials(), e.Tokens[auth.RoleHR]); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connection") {
		t.Fatalf("plain-text client: %v, want Unavailable (no connection)", err)
	}
}
