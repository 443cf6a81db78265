// Package auth owns who may call what: bearer tokens (stored only as SHA-256 hashes), the four
// roles, the segment prefix every non-global token is limited to, and the gRPC interceptors
// that turn an "authorization: Bearer <token>" header into a Principal on the context.
//
// Access is denied by default: a method absent from the Policy is refused for every role, and
// a Principal covers no segment outside its prefix. Only the gRPC health and reflection
// services are public, so that probes and grpcurl work without a token.
package auth

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Role is what a token may do; the Policy lists the roles allowed on each method.
type Role string

const (
	// RoleSubmitter is for bots and apps that submit and follow up for the person typing.
	RoleSubmitter Role = "submitter"
	// RoleManager reads and answers within a segment subtree.
	RoleManager Role = "manager"
	// RoleHR reads and answers within an organisation and manages its surveys.
	RoleHR Role = "hr"
	// RoleAdmin manages segments, tokens and backups; with an empty prefix it is global.
	RoleAdmin Role = "admin"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleSubmitter, RoleManager, RoleHR, RoleAdmin:
		return true
	}
	return false
}

// Principal is the authenticated caller.
type Principal struct {
	// Name identifies the token in logs and audit records ("slack-bot", "hr-portal").
	Name string
	Role Role
	// Prefix is the segment subtree the token is limited to ("acme/engineering"). It is empty
	// only for a global admin.
	Prefix string
	// Expires is when the token stops working; zero if it never does.
	Expires time.Time
}

// same reports whether p and q grant the same access. Expiries compare as instants: the
// same "expires" with another UTC offset, parsed again at a reload, is no change.
func (p Principal) same(q Principal) bool {
	return p.Name == q.Name && p.Role == q.Role && p.Prefix == q.Prefix && p.Expires.Equal(q.Expires)
}

// Expired reports whether p's token has expired at now.
func (p Principal) Expired(now time.Time) bool {
	return !p.Expires.IsZero() && !now.Before(p.Expires)
}

// Global reports whether p is a global admin, the only principal without a prefix.
func (p Principal) Global() bool { return p.Role == RoleAdmin && p.Prefix == "" }

// Covers reports whether seg is p's prefix or lies below it (segment.Path.Within, on whole
// elements: "acme/eng" covers "acme/eng" and "acme/eng/x" but not "acme/engineering"). A global
// admin covers everything, the empty root included. Everything else fails closed: a principal
// with an empty or malformed prefix covers nothing, and nobody else covers a malformed seg.
func (p Principal) Covers(seg string) bool {
	if p.Global() {
		return true
	}
	path, err := segment.Parse(seg)
	return err == nil && p.covers(path)
}

// covers is Covers for a parsed path; the zero Path is the root of every organisation.
func (p Principal) covers(seg segment.Path) bool {
	if p.Global() {
		return true
	}
	prefix, err := segment.Parse(p.Prefix)
	return err == nil && seg.Within(prefix)
}

type principalKey struct{}

// NewContext returns ctx carrying p. The interceptors use it; tests and in-process callers may
// too.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller that the interceptors authenticated, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// CheckSegment returns nil when the caller on ctx covers segment. Otherwise it returns a
// PermissionDenied status naming field:
//
//	segment: segment "acme/hr" is outside your token's prefix "acme/eng"
//
// The message names only what the caller sent and its own prefix, so it reveals nothing about
// segments it cannot see. A context without a Principal (a server without auth) is
// Unauthenticated: handlers fail closed. A malformed segment is InvalidArgument, with
// segment.Parse's reason, although handlers should have parsed it before (and then call
// CheckPath). The empty segment is the root of every organisation.
func CheckSegment(ctx context.Context, field, seg string) error {
	var path segment.Path
	if seg != "" {
		var err error
		if path, err = segment.Parse(seg); err != nil {
			if _, ok := FromContext(ctx); !ok {
				return unauthenticated(field)
			}
			return rpcerr.InvalidArgument(field, err.Error())
		}
	}
	return CheckPath(ctx, field, path)
}

// CheckPath is CheckSegment for a path parsed at the edge; the zero Path is the root of every
// organisation, which only global admins cover.
func CheckPath(ctx context.Context, field string, seg segment.Path) error {
	p, ok := FromContext(ctx)
	if !ok {
		return unauthenticated(field)
	}
	if p.covers(seg) {
		return nil
	}
	if seg.IsZero() {
		return rpcerr.Field(codes.PermissionDenied, field,
			fmt.Sprintf("the whole tree is visible to global admins only; name a segment under your token's prefix %q", p.Prefix))
	}
	return rpcerr.Field(codes.PermissionDenied, field,
		fmt.Sprintf("segment %q is outside your token's prefix %q", seg, p.Prefix))
}

func unauthenticated(field string) error {
	return status.Errorf(codes.Unauthenticated, "%s: no authenticated caller: %s", field, missingAuth)
}
