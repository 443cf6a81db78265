package sentiment

import bolt "go.etcd.io/bbolt"

// KeepApplied is how long the consumers keep applied ids before the stream's duplicate window
// is counted (consumer.Horizon).
const KeepApplied = keepApplied

// ViewStore reads the running service's store.
func (s *Service) ViewStore(fn func(tx *bolt.Tx) error) error { return s.host.DB.View(fn) }
