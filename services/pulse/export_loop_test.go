package pulse

import "time"

// ReleaseSurveyComments runs one release of held survey comments at now (loop.go), for tests
// that drive the clock.
func (s *Service) ReleaseSurveyComments(now time.Time) (int, error) {
	return s.releaseSurveyComments(now)
}

// Remind publishes the reminders due at now (loop.go).
func (s *Service) Remind(now time.Time) (int, error) { return s.remind(now) }
