package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

func TestCovers(t *testing.T) {
	global := auth.Principal{Name: "root", Role: auth.RoleAdmin}
	eng := auth.Principal{Name: "m", Role: auth.RoleManager, Prefix: "acme/eng"}
	orgAdmin := auth.Principal{Name: "a", Role: auth.RoleAdmin, Prefix: "acme"}
	noPrefix := auth.Principal{Name: "broken", Role: auth.RoleHR}
	badPrefix := auth.Principal{Name: "typo", Role: auth.RoleManager, Prefix: "Acme/eng"}
	for _, tc := range []struct {
		p       auth.Principal
		segment string
		want    bool
	}{
		{eng, "acme/eng", true},
		{eng, "acme/eng/x", true},
		{eng, "acme/eng/x/y", true},
		{eng, "acme/engineering", false},
		{eng, "acme/en", false},
		{eng, "acme", false},
		{eng, "", false},
		{eng, "acme/other/eng", false},
		{eng, "xacme/eng", false},
		{eng, "acme/eng_x", false},
		{eng, "acme/eng-x", false},
		{orgAdmin, "acme/eng", true},
		{orgAdmin, "acmecorp", false},
		{orgAdmin, "", false},
		{global, "", true},
		{global, "acme", true},
		{global, "other/x", true},
		{noPrefix, "acme", false}, // a non-admin without prefix fails closed
		{noPrefix, "", false},
		// Malformed paths are covered by nobody but a global admin, whatever their letters.
		{eng, "acme/eng/", false},
		{eng, "acme/eng//x", false},
		{eng, "acme/eng/X", false},
		{badPrefix, "Acme/eng", false},
		{badPrefix, "Acme/eng/x", false},
		{global, "Acme//x", true},
	} {
		if got := tc.p.Covers(tc.segment); got != tc.want {
			t.Errorf("%s %s(%q).Covers(%q) = %v, want %v", tc.p.Name, tc.p.Role, tc.p.Prefix, tc.segment, got, tc.want)
		}
	}
}

func TestContext(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Fatal("FromContext on a bare context reports a principal")
	}
	want := auth.Principal{Name: "bot", Role: auth.RoleSubmitter, Prefix: "acme"}
	got, ok := auth.FromContext(auth.NewContext(context.Background(), want))
	if !ok || got != want {
		t.Fatalf("FromContext(NewContext(p)) = %+v, %v; want %+v", got, ok, want)
	}
}

func TestCheckSegment(t *testing.T) {
	mgr := auth.NewContext(context.Background(), auth.Principal{Name: "m", Role: auth.RoleManager, Prefix: "acme/eng"})
	root := auth.NewContext(context.Background(), auth.Principal{Name: "root", Role: auth.RoleAdmin})
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		segment string
		code    codes.Code
		message string
	}{
		{"inside", mgr, "acme/eng/platform", codes.OK, ""},
		{"prefix itself", mgr, "acme/eng", codes.OK, ""},
		{"sibling sharing letters", mgr, "acme/engineering", codes.PermissionDenied,
			`segment: segment "acme/engineering" is outside your token's prefix "acme/eng"`},
		{"parent", mgr, "acme", codes.PermissionDenied,
			`segment: segment "acme" is outside your token's prefix "acme/eng"`},
		{"root for a manager", mgr, "", codes.PermissionDenied, ""},
		{"global admin anywhere", root, "other/org", codes.OK, ""},
		{"global admin at the root", root, "", codes.OK, ""},
		{"malformed", mgr, "acme/eng/../hr", codes.InvalidArgument, ""},
		{"no principal", context.Background(), "acme/eng", codes.Unauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.CheckSegment(tc.ctx, "segment", tc.segment)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("CheckSegment(%q) = %v, want code %v", tc.segment, err, tc.code)
			}
			if tc.message != "" && st.Message() != tc.message {
				t.Fatalf("message = %q, want %q", st.Message(), tc.message)
			}
			if err != nil && !strings.HasPrefix(st.Message(), "segment: ") {
				t.Fatalf("message %q does not start with the field name", st.Message())
			}
			if st.Code() == codes.PermissionDenied {
				found := false
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) == 1 && br.FieldViolations[0].Field == "segment" {
						found = true
					}
				}
				if !found {
					t.Fatalf("PermissionDenied without a field violation for segment: %v", st.Details())
				}
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	mgr := auth.NewContext(context.Background(), auth.Principal{Name: "m", Role: auth.RoleManager, Prefix: "acme/eng"})
	root := auth.NewContext(context.Background(), auth.Principal{Name: "root", Role: auth.RoleAdmin})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		seg  segment.Path
		code codes.Code
	}{
		{"inside", mgr, segment.MustParse("acme/eng/web"), codes.OK},
		{"sibling sharing letters", mgr, segment.MustParse("acme/engineering"), codes.PermissionDenied},
		{"root for a manager", mgr, segment.Path{}, codes.PermissionDenied},
		{"root for a global admin", root, segment.Path{}, codes.OK},
		{"no principal", context.Background(), segment.MustParse("acme/eng"), codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.CheckPath(tc.ctx, "segment_prefix", tc.seg)
			if st := status.Convert(err); st.Code() != tc.code || (err != nil && !strings.HasPrefix(st.Message(), "segment_prefix: ")) {
				t.Fatalf("CheckPath(%q) = %v, want code %v naming segment_prefix", tc.seg, err, tc.code)
			}
		})
	}
}

func TestRoleValid(t *testing.T) {
	for _, r := range []auth.Role{auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin} {
		if !r.Valid() {
			t.Errorf("%q.Valid() = false", r)
		}
	}
	for _, r := range []auth.Role{"", "Admin", "root", "hr "} {
		if r.Valid() {
			t.Errorf("%q.Valid() = true", r)
		}
	}
}

func TestErrInvalidTokensIsSentinel(t *testing.T) {
	_, err := auth.NewTokens([]auth.TokenRecord{{Name: "x", Role: "boss", Prefix: "acme", SHA256: auth.HashToken("t")}})
	if !errors.Is(err, auth.ErrInvalidTokens) {
		t.Fatalf("NewTokens with a bad role = %v, want ErrInvalidTokens", err)
	}
}
