package feedback

import "sync"

// placementCache keeps the last placement computed for each organisation with the version of
// the headcounts it was computed from (store.PlacementVersion). A placement is never changed
// once cached: readers share it.
type placementCache struct {
	mu sync.Mutex
	m  map[string]cachedPlacement
}

type cachedPlacement struct {
	version uint64
	pl      placement
}

// get returns org's placement of headcount version v, if cached.
func (c *placementCache) get(org string, v uint64) (placement, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[org]
	if !ok || e.version != v {
		return placement{}, false
	}
	return e.pl, true
}

// put caches pl as org's placement of headcount version v, unless a newer version is cached
// (a reader in an older transaction computed pl).
func (c *placementCache) put(org string, v uint64, pl placement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[org]; ok && e.version > v {
		return
	}
	if c.m == nil {
		c.m = map[string]cachedPlacement{}
	}
	c.m[org] = cachedPlacement{v, pl}
}
