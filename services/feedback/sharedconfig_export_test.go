package feedback

import (
	"context"
	"errors"
)

// WaitConfig waits until this replica applied revision rev of the shared configuration.
func (s *Service) WaitConfig(ctx context.Context, rev uint64) error {
	if s.config == nil {
		return errors.New("this service shares no configuration")
	}
	return s.config.WaitApplied(ctx, rev)
}
