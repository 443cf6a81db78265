package auth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
)

// hold is a server stream that sends who the caller is, then stays open until the call
// ends, as WatchSentiment does.
const hold = "/voix.test.Hold/Hold"

var holdDesc = grpc.ServiceDesc{
	ServiceName: "voix.test.Hold",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Hold",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := ss.RecvMsg(in); err != nil {
				return err
			}
			if err := ss.SendMsg(describe(ss.Context())); err != nil {
				return err
			}
			<-ss.Context().Done()
			return status.FromContextError(ss.Context().Err()).Err()
		},
	}},
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// reloading is a server whose tokens follow their file, as every service's do.
type reloading struct {
	path   string
	tokens *auth.Tokens
	auth   *auth.Authenticator
	cc     *grpc.ClientConn
	logs   *syncBuffer
}

func record(name string, role auth.Role, prefix, token string) auth.TokenRecord {
	return auth.TokenRecord{Name: name, Role: role, Prefix: prefix, SHA256: auth.HashToken(token)}
}

func newToken(t *testing.T) string {
	t.Helper()
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startReloading(t *testing.T, records []auth.TokenRecord, opts ...auth.Option) *reloading {
	t.Helper()
	r := &reloading{path: filepath.Join(t.TempDir(), "token-hashes.json"), logs: &syncBuffer{}}
	if err := auth.WriteTokens(r.path, auth.TokenFile{Tokens: records}); err != nil {
		t.Fatalf("WriteTokens: %v", err)
	}
	var err error
	if r.tokens, err = auth.LoadTokens(r.path); err != nil {
		t.Fatalf("LoadTokens: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.tokens.Watch(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(r.logs, nil)))
	}()
	t.Cleanup(func() { cancel(); <-done })
	r.auth = auth.New(r.tokens, auth.Policy{whoami: {auth.RoleHR}, hold: {auth.RoleHR}}, opts...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(r.auth.Unary()), grpc.ChainStreamInterceptor(r.auth.Stream()))
	srv.RegisterService(&whoDesc, struct{}{})
	srv.RegisterService(&holdDesc, struct{}{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	if r.cc, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cc.Close() })
	return r
}

func (r *reloading) write(t *testing.T, records ...auth.TokenRecord) {
	t.Helper()
	if err := auth.WriteTokens(r.path, auth.TokenFile{Tokens: records}); err != nil {
		t.Fatalf("WriteTokens: %v", err)
	}
}

func (r *reloading) call(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := callUnary(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), r.cc, whoami)
	return err
}

// open starts a Hold stream as token and waits for its first message.
func (r *reloading) open(t *testing.T, ctx context.Context, token string) (grpc.ClientStream, error) {
	t.Helper()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	s, err := r.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, hold)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(wrapperspb.String("hi")); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	if err := s.RecvMsg(new(wrapperspb.StringValue)); err != nil {
		return nil, err
	}
	return s, nil
}

// TestRevokedTokenRefusedWithoutRestart: a token added to the file works within a reload,
// and one removed from it is refused within a reload, by the same running server.
func TestRevokedTokenRefusedWithoutRestart(t *testing.T) {
	old, added := newToken(t), newToken(t)
	r := startReloading(t, []auth.TokenRecord{record("hr-portal", auth.RoleHR, "acme", old)})
	if err := r.call(old); err != nil {
		t.Fatalf("call with the token in the file: %v", err)
	}
	if err := r.call(added); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call with a token not in the file yet: %v, want Unauthenticated", err)
	}

	r.write(t, record("hr-portal", auth.RoleHR, "acme", old), record("hr-new", auth.RoleHR, "acme", added))
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error { return r.call(added) })

	r.write(t, record("hr-new", auth.RoleHR, "acme", added)) // hr-portal revoked
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		err := r.call(old)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "unknown or revoked") {
			return fmt.Errorf("revoked token: %v, want Unauthenticated 'unknown or revoked'", err)
		}
		return nil
	})
	if err := r.call(added); err != nil {
		t.Fatalf("the token kept in the file: %v", err)
	}
	if n := strings.Count(r.logs.String(), "token file reloaded"); n != 2 {
		t.Errorf("%d 'token file reloaded' lines for two changes, want 2; log:\n%s", n, r.logs)
	}
}

// TestMalformedTokenFileKeepsPreviousTokens: a new version of the file that does not parse
// is logged and ignored; the tokens in force stay so until a valid version replaces them.
func TestMalformedTokenFileKeepsPreviousTokens(t *testing.T) {
	tok, other := newToken(t), newToken(t)
	r := startReloading(t, []auth.TokenRecord{record("hr-portal", auth.RoleHR, "acme", tok)})
	if err := os.WriteFile(r.path, []byte(`{"tokens": [{"name": "half`), 0o600); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(r.logs.String(), "token file not reloaded") {
			return fmt.Errorf("no 'token file not reloaded' line yet; log:\n%s", r.logs)
		}
		return nil
	})
	if !strings.Contains(r.logs.String(), "keeping the previous tokens") {
		t.Errorf("log does not say the previous tokens are kept:\n%s", r.logs)
	}
	if err := r.call(tok); err != nil {
		t.Fatalf("token of the previous file after a malformed one: %v, want it still accepted", err)
	}
	if n := strings.Count(r.logs.String(), "token file not reloaded"); n != 1 {
		t.Errorf("the same malformed file logged %d times, want once; log:\n%s", n, r.logs)
	}
	// The file is removed (an operator's mistake): still the previous tokens.
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := strings.Count(r.logs.String(), "token file not reloaded"); n != 2 {
			return fmt.Errorf("%d 'not reloaded' lines, want 2 (malformed, then missing); log:\n%s", n, r.logs)
		}
		return nil
	})
	if err := r.call(tok); err != nil {
		t.Fatalf("token of the previous file with the file missing: %v", err)
	}
	r.write(t, record("other", auth.RoleHR, "acme", other))
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error { return r.call(other) })
	if err := r.call(tok); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("token missing from the valid new file: %v, want Unauthenticated", err)
	}
}

// TestExpiredTokenIsUnauthenticated: a token is accepted until its expiry and refused from
// then on, with a message saying so; Lookup agrees.
func TestExpiredTokenIsUnauthenticated(t *testing.T) {
	tok, forever := newToken(t), newToken(t)
	expires := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	rec := record("contractor", auth.RoleHR, "acme", tok)
	rec.Expires = expires.Format(time.RFC3339)
	r := startReloading(t, []auth.TokenRecord{rec, record("hr-portal", auth.RoleHR, "acme", forever)})
	var mu sync.Mutex
	now := expires.Add(-time.Second)
	r.tokens.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })

	if err := r.call(tok); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	if p, ok := r.tokens.Lookup(tok); !ok || !p.Expires.Equal(expires) {
		t.Fatalf("Lookup before expiry = %+v, %v; want the principal with its expiry", p, ok)
	}
	mu.Lock()
	now = expires
	mu.Unlock()
	err := r.call(tok)
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "expired at 2026-12-31T00:00:00Z") {
		t.Fatalf("at expiry: %v, want Unauthenticated 'expired at 2026-12-31T00:00:00Z'", err)
	}
	if _, ok := r.tokens.Lookup(tok); ok {
		t.Fatal("Lookup of an expired token succeeded")
	}
	if err := r.call(forever); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}
}

// TestOpenStreamEndsWhenTokenRevokedOrExpires: a stream outlives neither a revocation nor
// its token's expiry: it ends with Unauthenticated.
func TestOpenStreamEndsWhenTokenRevokedOrExpires(t *testing.T) {
	tok, keeps, brief := newToken(t), newToken(t), newToken(t)
	start := time.Now()
	rec := record("brief", auth.RoleHR, "acme", brief)
	rec.Expires = start.Add(time.Hour).Format(time.RFC3339Nano)
	r := startReloading(t, []auth.TokenRecord{record("hr-portal", auth.RoleHR, "acme", tok), record("keeps", auth.RoleHR, "acme", keeps), rec})
	// The clock runs an hour minus 300 ms ahead: "brief" expires 300 ms into the test.
	r.tokens.SetClock(func() time.Time { return time.Now().Add(time.Hour - 300*time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	revoked, err := r.open(t, ctx, tok)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if _, err := r.open(t, ctx, keeps); err != nil {
		t.Fatalf("open stream: %v", err)
	}
	expiring, err := r.open(t, ctx, brief)
	if err != nil {
		t.Fatalf("open stream of the token about to expire: %v", err)
	}
	err = expiring.RecvMsg(new(wrapperspb.StringValue))
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "expired") {
		t.Fatalf("stream of an expiring token: %v, want Unauthenticated 'expired'", err)
	}

	r.write(t, record("keeps", auth.RoleHR, "acme", keeps), rec)
	err = revoked.RecvMsg(new(wrapperspb.StringValue))
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "revoked") {
		t.Fatalf("stream of a revoked token: %v, want Unauthenticated 'revoked'", err)
	}
	// The stream of the token kept is still open: it ends when its caller leaves, not before.
	if got := r.auth.OpenStreams(); got["keeps"] != 1 || got["hr-portal"] != 0 {
		t.Fatalf("open streams after the revocation: %v, want keeps:1 and no hr-portal", got)
	}
}

// TestMaxStreamsPerToken: one token holds at most the limit of streams at once; one more is
// ResourceExhausted naming the limit, another token is not affected, and a stream that ends
// frees its place.
func TestMaxStreamsPerToken(t *testing.T) {
	tok, other := newToken(t), newToken(t)
	r := startReloading(t, []auth.TokenRecord{record("dashboard", auth.RoleHR, "acme", tok), record("other", auth.RoleHR, "acme", other)},
		auth.MaxStreamsPerToken(2))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, firstCancel := context.WithCancel(ctx)
	if _, err := r.open(t, first, tok); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	if _, err := r.open(t, ctx, tok); err != nil {
		t.Fatalf("second stream: %v", err)
	}
	_, err := r.open(t, ctx, tok)
	if status.Code(err) != codes.ResourceExhausted || !strings.HasPrefix(status.Convert(err).Message(), "max-watches: ") ||
		!strings.Contains(status.Convert(err).Message(), `token "dashboard" holds 2 open streams`) {
		t.Fatalf("third stream of one token: %v, want ResourceExhausted 'max-watches: token \"dashboard\" holds 2 open streams'", err)
	}
	if _, err := r.open(t, ctx, other); err != nil {
		t.Fatalf("another token's stream: %v", err)
	}
	firstCancel()
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := r.auth.OpenStreams()["dashboard"]; n != 1 {
			return fmt.Errorf("dashboard holds %d streams, want 1 once the first ended", n)
		}
		return nil
	})
	if _, err := r.open(t, ctx, tok); err != nil {
		t.Fatalf("a stream once one ended: %v", err)
	}
}

// TestStreamSurvivesUnrelatedReload: a reload that leaves a token as it was (its expiry
// written with a UTC offset, parsed anew) does not end its streams.
func TestStreamSurvivesUnrelatedReload(t *testing.T) {
	tok, added := newToken(t), newToken(t)
	rec := record("delhi", auth.RoleHR, "acme", tok)
	rec.Expires = time.Now().Add(time.Hour).In(time.FixedZone("IST", 5*3600+30*60)).Format(time.RFC3339)
	r := startReloading(t, []auth.TokenRecord{rec})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := r.open(t, ctx, tok)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	r.write(t, rec, record("added", auth.RoleHR, "acme", added))
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error { return r.call(added) })
	if got := r.auth.OpenStreams(); got["delhi"] != 1 {
		t.Fatalf("open streams after a reload that kept the token: %v, want delhi:1", got)
	}
	cancel()
	if err := s.RecvMsg(new(wrapperspb.StringValue)); status.Code(err) == codes.Unauthenticated {
		t.Fatalf("stream ended with %v, want it to end only because its caller left", err)
	}
}
