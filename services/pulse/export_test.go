package pulse

import "time"

// Tick runs one scheduling pass at now, for tests that drive the clock.
func (s *Service) Tick(now time.Time) error { return s.tick(now) }
