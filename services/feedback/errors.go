package feedback

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Domain errors. Code wraps them with the field and the detail, so that the message reads
// "<field>: <rule>" ("status: illegal transition from NEW to RESOLVED"); rules maps them to gRPC
// codes, here and nowhere else.
//
// errNotFound is the service's own: a store.ErrNotFound becomes it only where the service
// names the field the caller gave (a comment, a token, a rule). One that escapes elsewhere is
// an inconsistent store, and reaches the client as Internal, never as a NotFound naming nothing.
var (
	errNotFound          = errors.New("not found")
	errIllegalTransition = errors.New("illegal transition")
	errRateLimited       = errors.New("too many comments today")
	errRuleExists        = errors.New("another rule already routes this segment prefix and dimension")
	errTooManyNotes      = errors.New("too many notes")
	errRegistryMoved     = errors.New("headcounts are set in the segment registry with PulseService.UpsertSegment; " +
		"this service keeps a copy from the registry's SegmentUpserted events")
)

// rules maps the domain errors to gRPC codes. An unmapped error reaches the client as a bare
// Internal (rpcerr.To), never with its text.
var rules = []rpcerr.Rule{
	{Err: errNotFound, Code: codes.NotFound},
	{Err: errIllegalTransition, Code: codes.FailedPrecondition},
	{Err: errRateLimited, Code: codes.ResourceExhausted},
	{Err: errRuleExists, Code: codes.AlreadyExists},
	{Err: errTooManyNotes, Code: codes.ResourceExhausted},
	{Err: errRegistryMoved, Code: codes.FailedPrecondition},
}

// toStatus maps a domain error to its gRPC status.
func toStatus(err error) error { return rpcerr.To(err, rules...) }
