package pulse

// AfterClaim makes every claim on a marker run fn after it is taken; an error from
// fn is returned to the caller with the claim still held, as when a replica dies between
// its claim and its commit.
func (s *Service) AfterClaim(fn func() error) { s.afterClaim.Store(&fn) }
