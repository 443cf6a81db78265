package sentiment

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Domain errors. Code wraps them with the field and the detail, so that the message reads
// "<field>: <rule>" ("history: rebuild refused: stream PULSE no longer holds ..."); rules maps
// them to gRPC codes, here and nowhere else. Validation errors are rpcerr.InvalidArgument in
// the handlers.
var (
	// errHistoryAgedOut refuses a rebuild that would replay only part of the history.
	errHistoryAgedOut = errors.New("rebuild refused")
	// errRebuildRunning refuses a second rebuild while one is under way.
	errRebuildRunning = errors.New("a rebuild is already running")
	// errBusUnavailable is NATS failing a call that needs it now (a watch's subscription).
	errBusUnavailable = errors.New("event bus unavailable")
	// errResumeAgedOut refuses to resume a watch whose next releases the stream no longer holds.
	errResumeAgedOut = errors.New("the releases after it are no longer kept: watch again without it")
)

// rules maps the domain errors to gRPC codes. An unmapped error reaches the client as a bare
// Internal (rpcerr.To), never with its text.
var rules = []rpcerr.Rule{
	{Err: errHistoryAgedOut, Code: codes.FailedPrecondition},
	{Err: errRebuildRunning, Code: codes.FailedPrecondition},
	{Err: errBusUnavailable, Code: codes.Unavailable},
	{Err: errResumeAgedOut, Code: codes.FailedPrecondition},
}

// toStatus maps a domain error to its gRPC status.
func toStatus(err error) error { return rpcerr.To(err, rules...) }
