package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

func badRequest(t *testing.T, err error) *errdetails.BadRequest {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v carries no status", err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br
		}
	}
	t.Fatalf("status %v has no BadRequest detail (details: %v)", st, st.Details())
	return nil
}

func TestField(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
	}{
		{"InvalidArgument", rpcerr.InvalidArgument("survey.title", "must be 1..200 characters"), codes.InvalidArgument},
		{"Field", rpcerr.Field(codes.FailedPrecondition, "survey.title", "must be 1..200 characters"), codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.err)
			if st.Code() != tc.code {
				t.Fatalf("code = %v, want %v", st.Code(), tc.code)
			}
			if want := "survey.title: must be 1..200 characters"; st.Message() != want {
				t.Fatalf("message = %q, want %q", st.Message(), want)
			}
			v := badRequest(t, tc.err).GetFieldViolations()
			if len(v) != 1 || v[0].GetField() != "survey.title" || v[0].GetDescription() != "must be 1..200 characters" {
				t.Fatalf("field violations = %v, want one for survey.title", v)
			}
		})
	}
}

func TestFieldOKIsInternal(t *testing.T) {
	err := rpcerr.Field(codes.OK, "x", "y")
	if err == nil || status.Code(err) != codes.Internal {
		t.Fatalf("Field(OK) = %v, want an Internal error", err)
	}
}

var (
	errNotFound = errors.New("survey not found")
	errClosed   = errors.New("survey is closed")
)

var rules = []rpcerr.Rule{
	{Err: errNotFound, Code: codes.NotFound},
	{Err: errClosed, Code: codes.FailedPrecondition},
}

func TestTo(t *testing.T) {
	field := rpcerr.InvalidArgument("segment", "must be a segment path")
	for _, tc := range []struct {
		name    string
		err     error
		code    codes.Code
		message string
	}{
		{"sentinel", errNotFound, codes.NotFound, "survey not found"},
		{"wrapped sentinel keeps its detail", fmt.Errorf("%w: s-42", errClosed), codes.FailedPrecondition, "survey is closed: s-42"},
		{"status passes through", field, codes.InvalidArgument, "segment: must be a segment path"},
		{"status.Error passes through", status.Error(codes.AlreadyExists, "dup"), codes.AlreadyExists, "dup"},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), codes.Canceled, ""},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{"unknown is internal", errors.New("open /var/lib/voix/pulse.db: permission denied"), codes.Internal, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rpcerr.To(tc.err, rules...)
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("To(%v) = %v, which carries no status", tc.err, got)
			}
			if st.Code() != tc.code {
				t.Fatalf("code = %v, want %v", st.Code(), tc.code)
			}
			if tc.message != "" && st.Message() != tc.message {
				t.Fatalf("message = %q, want %q", st.Message(), tc.message)
			}
		})
	}
}

func TestToPassThroughKeepsDetails(t *testing.T) {
	got := rpcerr.To(rpcerr.InvalidArgument("page_size", "must be 1..100"), rules...)
	if v := badRequest(t, got).GetFieldViolations(); len(v) != 1 || v[0].GetField() != "page_size" {
		t.Fatalf("violations = %v, want page_size", v)
	}
}

func TestToNil(t *testing.T) {
	if err := rpcerr.To(nil, rules...); err != nil {
		t.Fatalf("To(nil) = %v", err)
	}
}

func TestToInternalHidesCause(t *testing.T) {
	cause := errors.New("bbolt: open /secret/path: permission denied")
	got := rpcerr.To(fmt.Errorf("load survey: %w", cause), rules...)
	st := status.Convert(got)
	if st.Code() != codes.Internal {
		t.Fatalf("code = %v, want Internal", st.Code())
	}
	if strings.Contains(st.Message(), "secret") || strings.Contains(got.Error(), "secret") {
		t.Fatalf("internal error leaks its cause: status %q, error %q", st.Message(), got.Error())
	}
	if len(st.Details()) != 0 {
		t.Fatalf("internal status has details %v", st.Details())
	}
	// The server still sees the cause, for its logs.
	if !errors.Is(got, cause) {
		t.Fatalf("errors.Is(To(err), cause) = false: the cause is lost for logging")
	}
	if c := rpcerr.Cause(fmt.Errorf("handler: %w", got)); c == nil || !errors.Is(c, cause) {
		t.Fatalf("Cause = %v, want the hidden error", c)
	}
	if c := rpcerr.Cause(rpcerr.InvalidArgument("f", "r")); c != nil {
		t.Fatalf("Cause(field error) = %v, want nil", c)
	}
	// Wrapping it again must not resurrect the cause in what the client sees.
	if st := status.Convert(fmt.Errorf("handler: %w", got)); st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") {
		t.Fatalf("wrapped internal error = %v", st)
	}
}

func TestToFirstRuleWins(t *testing.T) {
	both := errors.Join(errClosed, errNotFound)
	for i := 0; i < 20; i++ { // a map would make this flaky; a slice is deterministic
		if c := status.Code(rpcerr.To(both, rules...)); c != codes.NotFound {
			t.Fatalf("code = %v, want NotFound (first rule)", c)
		}
	}
}

func TestToRuleToOKIsIgnored(t *testing.T) {
	got := rpcerr.To(errNotFound, rpcerr.Rule{Err: errNotFound, Code: codes.OK})
	if got == nil || status.Code(got) != codes.Internal {
		t.Fatalf("To with an OK rule = %v, want Internal", got)
	}
}
