package pulse

import (
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// ResultsCache turns GetResults' cache of computed results on (the default) or off: off,
// every call computes afresh and caches nothing.
func (s *Service) ResultsCache(on bool) { s.resultsCache.off.Store(!on) }

// ResultsCacheHits counts the GetResults calls served from the cache.
func (s *Service) ResultsCacheHits() int64 { return s.resultsCache.hits.Load() }

// PutResponse stores r in the running service's store as SubmitResponse's commit does,
// without its checks: a response validated while its wave was open and committed just after
// it closed.
func (s *Service) PutResponse(r store.Response) error {
	return s.host.DB.Update(func(tx *bolt.Tx) error { return store.UnsafePutResponse(tx, r) })
}
