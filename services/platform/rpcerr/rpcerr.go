// Package rpcerr is the one place where errors become gRPC statuses. Handlers return field
// errors built here, and map their domain errors with To and a table of Rules, in the manner
// of etcd's v3rpc/util.go: codes are decided in one table, never ad hoc in handlers, and an
// error nobody mapped reaches the client as a bare "internal error", never with its text.
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// InternalMessage is all a client learns about an error that was not mapped.
const InternalMessage = "internal error"

// Field returns a status with code and the message "<field>: <rule>", carrying an
// errdetails.BadRequest whose one FieldViolation names the field, so that clients can point
// at the input to fix. field is the request field path ("survey.questions[2].text"); rule says
// what the value must be ("must be 1..200 characters"). code must not be codes.OK: a field
// error that is not an error is a bug, reported as Internal.
func Field(code codes.Code, field, rule string) error {
	if code == codes.OK {
		return status.Error(codes.Internal, InternalMessage)
	}
	st := status.New(code, field+": "+rule)
	detailed, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: rule}},
	})
	if err != nil { // only fails when the detail cannot be marshalled: keep the message
		return st.Err()
	}
	return detailed.Err()
}

// InvalidArgument is Field(codes.InvalidArgument, field, rule).
func InvalidArgument(field, rule string) error {
	return Field(codes.InvalidArgument, field, rule)
}

// A Rule sends every error that matches Err (errors.Is) to Code.
type Rule struct {
	Err  error
	Code codes.Code
}

// To turns err into a status error:
//   - nil stays nil;
//   - an error that already carries a status (from Field, from status.Error, or wrapping one)
//     passes through unchanged;
//   - the first Rule whose Err matches decides the code; the message is err's text, since a
//     domain error is written for the caller ("survey is closed");
//   - context.Canceled and context.DeadlineExceeded become Canceled and DeadlineExceeded;
//   - anything else becomes Internal with InternalMessage only. The original error stays
//     reachable with errors.Unwrap / errors.Is on the server side, for logs, but is never sent.
//
// Rules are a slice, not a map, so that an error matching two sentinels always maps the same
// way: the first rule wins.
func To(err error, rules ...Rule) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, r := range rules {
		if r.Err != nil && errors.Is(err, r.Err) {
			if r.Code == codes.OK {
				break // a rule to "OK" would swallow the error: treat it as unmapped
			}
			return status.Error(r.Code, err.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return &internalError{cause: err}
}

// Cause returns the error that To hid behind an Internal status, for the server's logs, or
// nil when err is not such an error.
func Cause(err error) error {
	var ie *internalError
	if errors.As(err, &ie) {
		return ie.cause
	}
	return nil
}

// internalError is an Internal status whose cause stays on the server. grpc-go reads the
// status through GRPCStatus, so only InternalMessage travels; Unwrap keeps the cause for logs.
type internalError struct{ cause error }

func (e *internalError) Error() string { return InternalMessage }

func (e *internalError) Unwrap() error { return e.cause }

func (e *internalError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, InternalMessage)
}
