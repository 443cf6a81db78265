package sentiment

// OutboxPending is the number of events queued and not yet published, for tests that wait
// until every release is on the stream.
func (s *Service) OutboxPending() (int, error) { return s.host.Outbox.Pending() }
