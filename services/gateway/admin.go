package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// handleDirectory sets directory entries: PUT /admin/directory with a JSON list of Entry, or a
// CSV (Content-Type text/csv), and an admin or hr bearer token covering every segment named.
func (s *Service) handleDirectory(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p, known := s.tokens.Lookup(token)
	if !ok || !known {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	if p.Role != auth.RoleAdmin && p.Role != auth.RoleHR {
		http.Error(w, "the directory is managed by admin or hr tokens", http.StatusForbidden)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	es, err := ReadEntries(strings.NewReader(string(body)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for i, e := range es {
		if _, err := segment.Parse(e.Segment); err != nil {
			http.Error(w, fmt.Sprintf("entries[%d].segment: %v", i, err), http.StatusBadRequest)
			return
		}
		if !p.Covers(e.Segment) {
			http.Error(w, "segment "+e.Segment+" is outside your token's prefix", http.StatusForbidden)
			return
		}
	}
	if err := s.dir.Set(es); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"updated": len(es)})
}
