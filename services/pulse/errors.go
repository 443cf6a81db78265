package pulse

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Domain errors. The service wraps them with the field they are about first and the detail
// after, fmt.Errorf("<field>: %w: <detail>", errX, ...), so that every message reads
// "<field>: <rule>: <detail>" ("wave: wave is not open: wave 2 opens at ..."); rules maps them
// to gRPC codes, here and nowhere else. A store error that the service did not translate
// (store.ErrNotFound included) matches no rule and reaches the client as a bare Internal.
var (
	errNotFound         = errors.New("not found")
	errAlreadyResponded = errors.New("already answered this wave")
	errWaveNotOpen      = errors.New("wave is not open")
	errSurveyClosed     = errors.New("survey is closed")
	errKeyReused        = errors.New("already used for a different request")
	errWaveNotClosed    = errors.New("results not readable yet")
	errNotInvited       = errors.New("not invited")
	errSettingsFixed    = errors.New("fixed once the first response arrived")
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
