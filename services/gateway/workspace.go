package gateway

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Which organisation a chat workspace belongs to.
//
// Every directory entry, every team a person may pick and every comment of a chat user is
// scoped by the organisation of the workspace (Slack's team_id) the command came from:
//
//   - With Config.Workspaces set, it is the only source: a workspace it does not list is not
//     connected, and its people are told so. Each organisation named must be that of the
//     gateway's own token when the token file knows that token (a gateway cannot submit
//     elsewhere).
//   - Without it, every workspace belongs to the organisation of the gateway's submitter
//     token: the first element of the token's prefix, found by looking the token up in the
//     token file. If the file does not know the token, or the token is a global admin's,
//     Start fails and asks for Workspaces.
//
// So an hr token of one organisation cannot reach another organisation's people: the entries
// it writes are keyed in its own organisation, and the gateway reads a user's entry only in
// the organisation of the user's workspace.

// orgScope is what the gateway knows of the organisations it serves.
type orgScope struct {
	workspaces map[string]string // team_id -> organisation, from Config.Workspaces
	// defaultOrg serves every workspace when workspaces is empty.
	defaultOrg string
	// tokenOrg and tokenPrefix are the organisation and prefix of the gateway's token, if the
	// token file knows it ("" otherwise).
	tokenOrg, tokenPrefix string
}

func newOrgScope(cfg Config, tokens *auth.Tokens) (orgScope, error) {
	sc := orgScope{workspaces: maps.Clone(cfg.Workspaces)}
	if p, known := tokens.Lookup(cfg.Token); known && !p.Global() && p.Prefix != "" {
		sc.tokenPrefix = p.Prefix
		sc.tokenOrg, _, _ = strings.Cut(p.Prefix, "/")
	}
	for _, team := range slices.Sorted(maps.Keys(sc.workspaces)) {
		org := sc.workspaces[team]
		if !idRule.MatchString(team) {
			return sc, fmt.Errorf("gateway: Workspaces: workspace id %q must match %s", clip(team), idRule)
		}
		if p, err := segment.Parse(org); err != nil || p.Depth() != 1 {
			return sc, fmt.Errorf("gateway: Workspaces[%s]: %q is not an organisation (one segment element, %s)", team, clip(org), segment.Rule)
		}
		if sc.tokenOrg != "" && org != sc.tokenOrg {
			return sc, fmt.Errorf("gateway: Workspaces[%s] = %s, but the gateway's token is limited to %s: it could not submit there", team, org, sc.tokenOrg)
		}
	}
	if len(sc.workspaces) == 0 {
		if sc.tokenOrg == "" {
			return sc, errors.New("gateway: cannot tell which organisation chat workspaces belong to: " +
				"the token file does not know the gateway's token (or it is global); set Workspaces (--workspace T123=acme)")
		}
		sc.defaultOrg = sc.tokenOrg
	}
	return sc, nil
}

// orgOf returns the organisation of a workspace, or false if the workspace is not connected.
func (sc orgScope) orgOf(team string) (string, bool) {
	if len(sc.workspaces) == 0 {
		return sc.defaultOrg, sc.defaultOrg != ""
	}
	org, ok := sc.workspaces[team]
	return org, ok
}

// teamsPrefix is the prefix under which the teams of org are listed: the gateway token's own
// prefix when it lies in org (a token limited to acme/eng offers acme/eng's teams), else org.
func (sc orgScope) teamsPrefix(org string) string {
	if sc.tokenOrg == org && sc.tokenPrefix != "" {
		return sc.tokenPrefix
	}
	return org
}

// ParseWorkspaces adds "T123=acme,T456=globex" (comma- or space-separated workspace=organisation
// pairs) to m. A workspace named twice with different organisations is an error.
func ParseWorkspaces(s string, m map[string]string) error {
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		team, org, ok := strings.Cut(pair, "=")
		team, org = strings.TrimSpace(team), strings.TrimSpace(org)
		if !ok || team == "" || org == "" {
			return fmt.Errorf("workspace %q: want <workspace id>=<organisation>, e.g. T123=acme", clip(pair))
		}
		if !idRule.MatchString(team) {
			return fmt.Errorf("workspace %q: the id must match %s", clip(team), idRule)
		}
		if p, err := segment.Parse(org); err != nil || p.Depth() != 1 {
			return fmt.Errorf("workspace %s: %q is not an organisation (one segment element, %s)", team, clip(org), segment.Rule)
		}
		if old, dup := m[team]; dup && old != org {
			return fmt.Errorf("workspace %s is given as both %s and %s", team, old, org)
		}
		m[team] = org
	}
	return nil
}
