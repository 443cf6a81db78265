package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// handleDirectory sets directory entries: PUT /admin/directory with a JSON list of Entry, or a
// CSV (Content-Type text/csv), and an admin or hr bearer token covering every segment named.
// Entries are HR's (SourceHR): they replace whatever the person picked, and the person cannot
// change them. Each entry is written in the organisation of its segment, and only for a
// workspace of that organisation: an hr token of one organisation can neither write nor
// overwrite the entry of another organisation's chat user.
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
	if err := s.checkEntries(es, &p); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errOutsideScope) {
			code = http.StatusForbidden
		}
		http.Error(w, err.Error(), code)
		return
	}
	if err := s.dir.SetHR(es); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"updated": len(es)})
}

// errOutsideScope marks an entry its writer may not write.
var errOutsideScope = errors.New("outside your scope")

// checkEntries checks that every entry's segment is valid, that its workspace belongs to the
// segment's organisation, and, if by is set, that by covers the segment. Messages name only
// what the writer sent.
func (s *Service) checkEntries(es []Entry, by *auth.Principal) error {
	for i, e := range es {
		seg, err := segment.Parse(e.Segment)
		if err != nil {
			return fmt.Errorf("entries[%d].segment: %w", i, err)
		}
		if by != nil && !by.Covers(seg.String()) {
			return fmt.Errorf("entries[%d]: %w: segment %s is outside your token's prefix", i, errOutsideScope, seg)
		}
		org, ok := s.orgs.orgOf(e.TeamID)
		switch {
		case !ok && e.TeamID == "":
			return fmt.Errorf("entries[%d].team_id: required: the gateway maps workspaces to organisations", i)
		case !ok:
			return fmt.Errorf("entries[%d].team_id: workspace %s is not connected to the gateway (see Workspaces, --workspace)", i, clip(e.TeamID))
		case org != seg.Org():
			return fmt.Errorf("entries[%d]: %w: workspace %s belongs to another organisation than %s", i, errOutsideScope, clip(e.TeamID), seg.Org())
		}
	}
	return nil
}
