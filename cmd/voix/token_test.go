package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

// voixToken runs `voix token args...` against dataDir and returns its stdout, failing the
// test on error.
func voixToken(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	out, errOut, err := tryToken(dataDir, time.Now(), args...)
	if err != nil {
		t.Fatalf("voix token %v: %v\nstderr: %s", args, err, errOut)
	}
	return out
}

func tryToken(dataDir string, now time.Time, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	args = append(append(args[:1:1], "--data-dir", dataDir), args[1:]...)
	err := tokenCommand(args, &out, &errb, func(string) string { return "" }, func() time.Time { return now })
	return out.String(), errb.String(), err
}

// TestTokenCreateRevokeAgainstRunningService: a token minted by voix token create works on a
// running pulse service at once, never appears in the file in clear, and is refused with
// Unauthenticated after voix token revoke, without a restart. A token minted with a short
// expiry is refused once it passes.
func TestTokenCreateRevokeAgainstRunningService(t *testing.T) {
	e := servicetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := pulse.Start(ctx, pulse.Config{
		Listen: "127.0.0.1:0", DataDir: e.DataDir, NATS: e.NATSConfig(),
		Ops: host.Ops{TokenReload: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, svc.Addr()))
	list := func(token string) error {
		_, err := client.ListSurveys(servicetest.WithToken(ctx, token), &pulsev1.ListSurveysRequest{SegmentPrefix: servicetest.Org})
		return err
	}

	token := strings.TrimSpace(voixToken(t, e.DataDir, "create", "--role", "hr", "--segment", servicetest.Org, "--name", "hr-portal"))
	if !strings.HasPrefix(token, "voix_") {
		t.Fatalf("create printed %q, want the token alone", token)
	}
	file, err := os.ReadFile(host.DefaultTokensFile(e.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), token) || !strings.Contains(string(file), auth.HashToken(token)) {
		t.Fatalf("token file holds the token in clear, or not its hash:\n%s", file)
	}
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error { return list(token) })

	listed := voixToken(t, e.DataDir, "list")
	if !strings.Contains(listed, "hr-portal") || strings.Contains(listed, token) || strings.Contains(listed, auth.HashToken(token)) {
		t.Fatalf("list:\n%s\nwant hr-portal, and neither the token nor its hash", listed)
	}
	if _, _, err := tryToken(e.DataDir, time.Now(), "create", "--role", "hr", "--segment", servicetest.Org, "--name", "hr-portal"); err == nil ||
		!strings.Contains(err.Error(), "--name") {
		t.Fatalf("a second token named hr-portal: %v, want an error naming --name", err)
	}

	voixToken(t, e.DataDir, "revoke", "hr-portal")
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if err := list(token); status.Code(err) != codes.Unauthenticated {
			return fmt.Errorf("revoked token: %v, want Unauthenticated", err)
		}
		return nil
	})
	// The tokens servicetest wrote before are still there and still work.
	if err := list(e.Tokens["hr"]); err != nil {
		t.Fatalf("a token not revoked: %v", err)
	}
	if _, _, err := tryToken(e.DataDir, time.Now(), "revoke", "hr-portal"); err == nil || !strings.Contains(err.Error(), `no token named "hr-portal"`) {
		t.Fatalf("revoking twice: %v, want 'no token named'", err)
	}

	brief := strings.TrimSpace(voixToken(t, e.DataDir, "create", "--role", "hr", "--segment", servicetest.Org, "--name", "brief", "--expires", "2s"))
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		err := list(brief)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "expired") {
			return fmt.Errorf("token past its expiry: %v, want Unauthenticated 'expired'", err)
		}
		return nil
	})
	if listed := voixToken(t, e.DataDir, "list"); !strings.Contains(listed, "(expired)") {
		t.Fatalf("list after expiry:\n%s\nwant brief marked (expired)", listed)
	}
}

// TestTokenCreateErrors: each mistake names its flag, and nothing is written.
func TestTokenCreateErrors(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--role", "boss", "--segment", "acme"}, "--role"},
		{[]string{"create", "--role", "hr"}, "--segment"},
		{[]string{"create", "--role", "hr", "--segment", "acme", "--expires", "tomorrow"}, "--expires"},
		{[]string{"create", "--role", "hr", "--segment", "acme", "--expires", "2026-01-01T00:00:00Z"}, "not in the future"},
		{[]string{"create", "--role", "hr", "--segment", "acme", "--expires", "-3h"}, "not in the future"},
		{[]string{"create", "--role", "hr", "--segment", "acme/", "--name", "x"}, "prefix"},
		{[]string{"create", "--role", "hr", "--segment", "acme", "--name", "has space"}, "--name"},
		{[]string{"revoke"}, "want 1 argument"},
		{[]string{"rotate"}, "unknown subcommand"},
	} {
		out, _, err := tryToken(dir, now, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("voix token %v: err %v, stdout %q; want an error containing %q and no token", tc.args, err, out, tc.want)
		}
	}
	if _, err := os.Stat(host.DefaultTokensFile(dir)); !os.IsNotExist(err) {
		t.Fatalf("the token file exists after only failed commands: %v", err)
	}
	tok, _, err := tryToken(dir, now, "create", "--role", "admin", "--expires", "30d", "--name", "ops")
	if err != nil {
		t.Fatal(err)
	}
	f, err := auth.ReadTokenFile(host.DefaultTokensFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tokens) != 1 || f.Tokens[0].Expires != "2026-12-30T12:00:00Z" || f.Tokens[0].SHA256 != auth.HashToken(strings.TrimSpace(tok)) {
		t.Fatalf("file after create --expires 30d: %+v", f.Tokens)
	}
}

// TestTokenCreatedSurvivesDevRestart: voix dev rewrites its own tokens at start and keeps the
// ones an operator added with voix token create; both kinds work on the restarted suite.
func TestTokenCreatedSurvivesDevRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *dev.Suite {
		s, err := dev.Start(context.Background(), dev.Config{DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0",
			FeedbackListen: "127.0.0.1:0", SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list := func(s *dev.Suite, token string) error {
		client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
		_, err := client.ListSurveys(servicetest.WithToken(ctx, token), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme"})
		return err
	}

	s := start()
	devHR := s.Tokens.HR
	token := strings.TrimSpace(voixToken(t, dir, "create", "--role", "hr", "--segment", "acme", "--name", "ops-hr"))
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error { return list(s, token) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = start()
	if s.Tokens.HR != devHR {
		t.Fatalf("the dev hr token changed across a restart")
	}
	if err := list(s, token); err != nil {
		t.Fatalf("the token made with voix token create, after voix dev restarted: %v", err)
	}
	if err := list(s, s.Tokens.HR); err != nil {
		t.Fatalf("the dev hr token after a restart: %v", err)
	}
	f, err := auth.ReadTokenFile(host.DefaultTokensFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, r := range f.Tokens {
		names[r.Name]++
	}
	for _, n := range []string{"ops-hr", "dev-submitter", "dev-manager", "dev-hr", "dev-admin"} {
		if names[n] != 1 {
			t.Errorf("token file after the restart has %q %d times, want once: %+v", n, names[n], f.Tokens)
		}
	}
	if len(f.Tokens) != 5 {
		t.Errorf("token file after the restart has %d records, want 5: %+v", len(f.Tokens), f.Tokens)
	}
}
