package pulse

import (
	"context"
	"errors"
)

// AfterClaim makes every claim on a marker run fn after it is taken; an error from
// fn is returned to the caller with the claim still held, as when a replica dies between
// its claim and its commit.
func (s *Service) AfterClaim(fn func() error) { s.afterClaim.Store(&fn) }

// WaitConfig waits until this replica applied revision rev of the shared survey definitions.
func (s *Service) WaitConfig(ctx context.Context, rev uint64) error {
	if s.config == nil {
		return errors.New("this service shares no survey definitions")
	}
	return s.config.WaitApplied(ctx, rev)
}
