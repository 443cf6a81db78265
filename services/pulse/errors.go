package pulse

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Domain errors. Handlers wrap them with detail (fmt.Errorf("%w: ...")); toStatus maps them to
// gRPC codes, here and nowhere else.
var (
	errNotFound         = store.ErrNotFound
	errAlreadyResponded = errors.New("already answered this wave")
	errWaveNotOpen      = errors.New("wave is not open")
	errSurveyClosed     = errors.New("survey is closed")
	errKeyReused        = errors.New("idempotency_key: already used for a different request")
	errWaveNotClosed    = errors.New("results not readable yet")
	errNotInvited       = errors.New("not invited")
	errSettingsFixed    = errors.New("fixed once the first response arrived: results already read were suppressed with it")
)

// rules maps the domain errors to gRPC codes, here and nowhere else. An unmapped error reaches
// the client as a bare Internal (rpcerr.To), never with its text.
var rules = []rpcerr.Rule{
	{Err: errNotFound, Code: codes.NotFound},
	{Err: errAlreadyResponded, Code: codes.AlreadyExists},
	{Err: errWaveNotOpen, Code: codes.FailedPrecondition},
	{Err: errSurveyClosed, Code: codes.FailedPrecondition},
	{Err: errKeyReused, Code: codes.InvalidArgument},
	{Err: errWaveNotClosed, Code: codes.FailedPrecondition},
	{Err: errSettingsFixed, Code: codes.FailedPrecondition},
	{Err: errNotInvited, Code: codes.FailedPrecondition},
}

// toStatus maps a domain error to its gRPC status.
func toStatus(err error) error { return rpcerr.To(err, rules...) }
