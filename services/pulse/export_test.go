package pulse

import "time"

// Tick runs one scheduling pass at now, for tests that drive the clock.
func (s *Service) Tick(now time.Time) error { return s.tick(now) }

// ResultsFromResponses makes GetResults decode every response (the computation before the
// tallies) when on, and read the tallies when off.
func (s *Service) ResultsFromResponses(on bool) { s.resultsFromResponses.Store(on) }
