package auth

import (
	"context"
	"slices"
	"strings"

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

// Authenticator checks the bearer token and the Policy on every call, in interceptors.
type Authenticator struct {
	tokens *Tokens
	policy Policy
}

// New returns an Authenticator for tokens and policy. The policy is copied, so later changes
// to the map do not change access.
func New(tokens *Tokens, policy Policy) *Authenticator {
	p := make(Policy, len(policy))
	for m, roles := range policy {
		p[m] = slices.Clone(roles)
	}
	return &Authenticator{tokens: tokens, policy: p}
}

// Unary returns the interceptor that authenticates and authorizes unary calls.
func (a *Authenticator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the interceptor that authenticates and authorizes streaming calls.
func (a *Authenticator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

// authorize returns ctx with the caller's Principal, or the status to fail the call with.
// It authenticates before it authorizes, so that a caller without a valid token learns
// nothing but that it needs one.
func (a *Authenticator) authorize(ctx context.Context, method string) (context.Context, error) {
	if public(method) {
		return ctx, nil
	}
	token, err := bearer(ctx)
	if err != nil {
		return nil, err
	}
	p, ok := a.tokens.Lookup(token)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown or revoked bearer token")
	}
	allowed := a.policy[method]
	if len(allowed) == 0 {
		return nil, status.Errorf(codes.PermissionDenied, "method %s is not allowed for any role", method)
	}
	if !slices.Contains(allowed, p.Role) {
		return nil, status.Errorf(codes.PermissionDenied, "role %q may not call %s (allowed: %s)", p.Role, method, joinRoles(allowed))
	}
	return NewContext(ctx, p), nil
}

// bearer extracts the token from the one "authorization: Bearer <token>" header. The scheme
// is case-insensitive (RFC 7235); anything else is refused rather than guessed at.
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
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
