package sentiment

// Flush releases what the consumers applied so far, as the publisher's next tick would, so
// tests can read without waiting for it.
func (s *Service) Flush() error {
	_, err := s.flush()
	return err
}
