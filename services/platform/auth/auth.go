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
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/rpcerr"
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
}

// Global reports whether p is a global admin, the only principal without a prefix.
func (p Principal) Global() bool { return p.Role == RoleAdmin && p.Prefix == "" }

// Covers reports whether segment is p's prefix or lies below it. The comparison is on whole
// elements: "acme/eng" covers "acme/eng" and "acme/eng/x" but not "acme/engineering". A global
// admin covers everything, the empty root included; any other principal with an empty prefix
// covers nothing, so a malformed Principal fails closed.
func (p Principal) Covers(segment string) bool {
	if p.Global() {
		return true
	}
	if p.Prefix == "" {
		return false
	}
	rest, ok := strings.CutPrefix(segment, p.Prefix)
	return ok && (rest == "" || rest[0] == '/')
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
// Unauthenticated: handlers fail closed. A malformed segment is InvalidArgument, although
// handlers should have parsed it before.
func CheckSegment(ctx context.Context, field, segment string) error {
	p, ok := FromContext(ctx)
	if !ok {
		return status.Errorf(codes.Unauthenticated, "%s: no authenticated caller: %s", field, missingAuth)
	}
	if segment != "" {
		if err := checkSegment(segment); err != nil {
			return rpcerr.InvalidArgument(field, err.Error())
		}
	}
	if p.Covers(segment) {
		return nil
	}
	if segment == "" {
		return rpcerr.Field(codes.PermissionDenied, field,
			fmt.Sprintf("the whole tree is visible to global admins only; name a segment under your token's prefix %q", p.Prefix))
	}
	return rpcerr.Field(codes.PermissionDenied, field,
		fmt.Sprintf("segment %q is outside your token's prefix %q", segment, p.Prefix))
}

// checkSegment is a minimal copy of the segment rules (DESIGN.md, Segments) so that auth does
// not depend on the segment package: elements [a-z0-9][a-z0-9_-]{0,62}, at most 8 of them.
func checkSegment(s string) error {
	const maxLevels, maxElem = 8, 63
	if s == "" {
		return fmt.Errorf("is empty; want a path like \"acme/engineering\"")
	}
	elems := strings.Split(s, "/")
	if len(elems) > maxLevels {
		return fmt.Errorf("%q has %d levels; at most %d are allowed", s, len(elems), maxLevels)
	}
	for i, e := range elems {
		if e == "" || len(e) > maxElem {
			return fmt.Errorf("%q: element %d must be 1..%d characters", s, i+1, maxElem)
		}
		for j := 0; j < len(e); j++ {
			c := e[j]
			lowerDigit := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !lowerDigit && (j == 0 || c != '_' && c != '-') {
				return fmt.Errorf("%q: element %q must match [a-z0-9][a-z0-9_-]*", s, e)
			}
		}
	}
	return nil
}
