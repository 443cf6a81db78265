package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Policy maps a full gRPC method name ("/voix.feedback.v1.FeedbackService/SubmitFeedback", the
// generated ..._FullMethodName constants) to the roles allowed to call it. A method that is
// missing, or listed with no role, is denied to everyone.
type Policy map[string][]Role

// publicPrefixes are the methods served without a token: probes must reach health, and
// grpcurl needs reflection to describe the API it will then call with a token.
var publicPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

func public(method string) bool {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

const missingAuth = "missing authorization: Bearer <token>"

// Authenticator checks the bearer token and the Policy on every call, in interceptors. It
// also ends the streams of a token that is revoked (Tokens.Reload) or expires while they are
// open, and caps how many streams one token holds open at once (MaxStreamsPerToken).
type Authenticator struct {
	tokens     *Tokens
	policy     Policy
	maxStreams int

	mu      sync.Mutex
	streams map[*openStream]struct{}
	perName map[string]int
}

// openStream is a streaming call in progress, and how to end it.
type openStream struct {
	hash   string
	p      Principal
	cancel context.CancelCauseFunc
}

// Option changes an Authenticator.
type Option func(*Authenticator)

// MaxStreamsPerToken caps the streaming calls (WatchSentiment) that the tokens of one name
// may hold open at once, on this server; one more is refused with ResourceExhausted. 0 or
// less: no cap.
func MaxStreamsPerToken(n int) Option { return func(a *Authenticator) { a.maxStreams = n } }

// New returns an Authenticator for tokens and policy. The policy is copied, so later changes
// to the map do not change access.
func New(tokens *Tokens, policy Policy, opts ...Option) *Authenticator {
	p := make(Policy, len(policy))
	for m, roles := range policy {
		p[m] = slices.Clone(roles)
	}
	a := &Authenticator{tokens: tokens, policy: p, streams: map[*openStream]struct{}{}, perName: map[string]int{}}
	for _, o := range opts {
		o(a)
	}
	tokens.subscribe(a.recheck)
	return a
}

// Causes of a stream ended by the Authenticator.
var (
	errRevoked = errors.New("the bearer token was revoked or changed while the stream was open")
	errExpired = errors.New("the bearer token expired while the stream was open")
)

// Unary returns the interceptor that authenticates and authorizes unary calls.
func (a *Authenticator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Authorize is what Unary's interceptor checks, for a server that runs its interceptors in one
// function (grpcserver): it returns ctx with the caller's Principal (ctx itself for a public
// method), or the status to fail the call of method with.
func (a *Authenticator) Authorize(ctx context.Context, method string) (context.Context, error) {
	ctx, _, err := a.authorize(ctx, method)
	return ctx, err
}

// Stream returns the interceptor that authenticates and authorizes streaming calls. A stream
// lives no longer than its token: it ends with Unauthenticated within a reload of the token
// file that revokes or changes the token, and when the token expires.
func (a *Authenticator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, hash, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		p, ok := FromContext(ctx)
		if !ok { // a public method
			return handler(srv, ss)
		}
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		o := &openStream{hash: string(hash[:]), p: p, cancel: cancel}
		if err := a.open(o); err != nil {
			return err
		}
		defer a.close(o)
		if !p.Expires.IsZero() {
			t := time.AfterFunc(p.Expires.Sub(a.tokens.now()), func() { cancel(errExpired) })
			defer t.Stop()
		}
		err = handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
		if cause := context.Cause(ctx); errors.Is(cause, errRevoked) || errors.Is(cause, errExpired) {
			return status.Error(codes.Unauthenticated, cause.Error())
		}
		return err
	}
}

// open registers o, unless its token's name holds MaxStreamsPerToken streams already.
func (a *Authenticator) open(o *openStream) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.perName[o.p.Name]; a.maxStreams > 0 && n >= a.maxStreams {
		return status.Errorf(codes.ResourceExhausted,
			"max-watches: token %q holds %d open streams, the most one token may hold at once on this server; close one before opening another",
			o.p.Name, n)
	}
	a.perName[o.p.Name]++
	a.streams[o] = struct{}{}
	return nil
}

func (a *Authenticator) close(o *openStream) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.streams, o)
	if a.perName[o.p.Name]--; a.perName[o.p.Name] <= 0 {
		delete(a.perName, o.p.Name)
	}
}

// recheck ends the open streams whose token is gone from the new token file, or changed.
func (a *Authenticator) recheck() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for o := range a.streams {
		if p, err := a.tokens.byHash(o.hash); err != nil || !p.same(o.p) {
			o.cancel(errRevoked)
		}
	}
}

// OpenStreams is how many authenticated streams are open now, by token name.
func (a *Authenticator) OpenStreams() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.perName))
	for k, v := range a.perName {
		out[k] = v
	}
	return out
}

// authorize returns ctx with the caller's Principal and its token's hash (HashToken, in an
// array so that unary calls, which do not keep it, allocate no string), or the status to
// fail the call with. It authenticates before it authorizes, so that a caller without a
// valid token learns nothing but that it needs one.
func (a *Authenticator) authorize(ctx context.Context, method string) (context.Context, tokenHash, error) {
	var hash tokenHash
	if public(method) {
		return ctx, hash, nil
	}
	token, err := bearer(ctx)
	if err != nil {
		return nil, hash, err
	}
	sum := sha256.Sum256([]byte(token))
	hex.Encode(hash[:], sum[:]) // as HashToken
	p, err := a.tokens.hashBytes(hash[:])
	if errors.Is(err, ErrExpiredToken) {
		return nil, hash, status.Error(codes.Unauthenticated, err.Error()+"; ask for a new one")
	}
	if err != nil {
		return nil, hash, status.Error(codes.Unauthenticated, ErrUnknownToken.Error())
	}
	allowed := a.policy[method]
	if len(allowed) == 0 {
		return nil, hash, status.Errorf(codes.PermissionDenied, "method %s is not allowed for any role", method)
	}
	if !slices.Contains(allowed, p.Role) {
		return nil, hash, status.Errorf(codes.PermissionDenied, "role %q may not call %s (allowed: %s)", p.Role, method, joinRoles(allowed))
	}
	return NewContext(ctx, p), hash, nil
}

// tokenHash is HashToken's result in an array.
type tokenHash [2 * sha256.Size]byte

// bearer extracts the token from the one "authorization: Bearer <token>" header. The scheme
// is case-insensitive (RFC 7235); anything else is refused rather than guessed at.
func bearer(ctx context.Context) (string, error) {
	// Only this header: FromIncomingContext would copy all of them, on every call.
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	switch len(vals) {
	case 0:
		return "", status.Error(codes.Unauthenticated, missingAuth)
	case 1:
	default:
		return "", status.Errorf(codes.Unauthenticated, "malformed authorization: got %d values, want one \"Bearer <token>\"", len(vals))
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", status.Error(codes.Unauthenticated, "malformed authorization: want \"Bearer <token>\"")
	}
	return token, nil
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// principalStream carries the authenticated context into stream handlers.
type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }
