package feedback

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

// ownerGroupRule is the grammar of an owner group, a segment element's: safe in subjects, keys
// and ticketing systems.
var ownerGroupRule = regexp.MustCompile(`^` + segment.Rule + `$`)

func checkOwnerGroup(field, g string) error {
	if !ownerGroupRule.MatchString(g) {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must match %s, got %q", segment.Rule, clip(g)))
	}
	return nil
}

// moreSpecific orders rules most specific first: the deeper segment prefix, then a rule for a
// dimension before one for any, then by prefix, dimension and id so that the order is total.
// It is ListRoutingRules' order too, whose page tokens hold the last rule's place in it.
func moreSpecific(a, b store.Rule) int {
	return cmp.Or(
		-cmp.Compare(a.Prefix.Depth(), b.Prefix.Depth()),
		-cmp.Compare(min(a.Dimension, 1), min(b.Dimension, 1)),
		cmp.Compare(a.Prefix.String(), b.Prefix.String()),
		cmp.Compare(a.Dimension, b.Dimension),
		cmp.Compare(a.ID, b.ID),
	)
}

// sortedRules returns every rule, most specific first.
func sortedRules(tx store.ReadTx) ([]store.Rule, error) {
	rs, err := store.Rules(tx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rs, moreSpecific)
	return rs, nil
}

// route picks the owner group of a comment from author with dims, whose scored dimensions
// carry scores. The rule is: among the rules whose prefix holds the author's segment and whose
// dimension is one of the comment's (or any), the deepest prefix wins; at equal depth a rule
// for a dimension beats a rule for any; between rules for different dimensions of the comment
// at equal depth, the dimension the comment is most negative about wins (that is where action
// is needed), then the lower enum value. "" when no rule matches.
func route(rules []store.Rule, author segment.Path, dims []commonv1.Dimension, scores map[commonv1.Dimension]float64) string {
	var best *store.Rule
	for i := range rules {
		r := &rules[i]
		if !author.Within(r.Prefix) {
			continue
		}
		if r.Dimension != commonv1.Dimension_DIMENSION_UNSPECIFIED && !slices.Contains(dims, r.Dimension) {
			continue
		}
		if best == nil {
			best = r
			continue
		}
		if r.Prefix.Depth() != best.Prefix.Depth() || (r.Dimension == 0) != (best.Dimension == 0) {
			break // rules are sorted: nothing after this is as specific as best
		}
		if c := cmp.Compare(scores[r.Dimension], scores[best.Dimension]); c < 0 || (c == 0 && r.Dimension < best.Dimension) {
			best = r
		}
	}
	if best == nil {
		return ""
	}
	return best.OwnerGroup
}

// validateRule checks a rule from a request and maps it to a stored rule; the caller checks
// its prefix against the token.
func validateRule(r *feedbackv1.RoutingRule) (store.Rule, error) {
	if r == nil {
		return store.Rule{}, rpcerr.InvalidArgument("rule", "required")
	}
	if len(r.Id) > maxIDBytes {
		return store.Rule{}, rpcerr.InvalidArgument("rule.id", fmt.Sprintf("must be at most %d bytes", maxIDBytes))
	}
	p, err := segment.Parse(r.SegmentPrefix)
	if err != nil {
		return store.Rule{}, rpcerr.InvalidArgument("rule.segment_prefix", err.Error())
	}
	if _, ok := commonv1.Dimension_name[int32(r.Dimension)]; !ok {
		return store.Rule{}, rpcerr.InvalidArgument("rule.dimension", fmt.Sprintf("unknown dimension %d", r.Dimension))
	}
	if err := checkOwnerGroup("rule.owner_group", r.OwnerGroup); err != nil {
		return store.Rule{}, err
	}
	return store.Rule{ID: r.Id, Prefix: p, Dimension: r.Dimension, OwnerGroup: r.OwnerGroup}, nil
}

// apiRule is a stored rule as the API shows it.
func apiRule(r store.Rule) *feedbackv1.RoutingRule {
	return &feedbackv1.RoutingRule{Id: r.ID, SegmentPrefix: r.Prefix.String(), Dimension: r.Dimension, OwnerGroup: r.OwnerGroup}
}

// upsertRule stores r. Without an id it replaces the rule of the same prefix and dimension if
// there is one (so that retries do not pile up rules), else creates one; with an id it
// replaces that rule, which must exist within the caller's prefix, and refuses to make two
// rules of one prefix and dimension, whose order would be arbitrary. With apply, the open
// comments r matches are routed again in the same transaction (reroute.go).
func (s *Service) upsertRule(ctx context.Context, r store.Rule, apply bool) (store.Rule, error) {
	if s.config != nil {
		return s.upsertRuleShared(ctx, r, apply) // replicas: the bucket first (sharedconfig_ops.go)
	}
	newID := rand.Text()
	p, _ := auth.FromContext(ctx)
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if err := resolveRuleID(tx, p, &r); err != nil {
			return err
		}
		if r.ID == "" {
			r.ID = newID
		}
		if err := store.UnsafePutRule(tx, r); err != nil || !apply {
			return err
		}
		return s.unsafeReroute(tx, r)
	})
	if err != nil {
		return store.Rule{}, err
	}
	return r, nil
}

// resolveRuleID checks r's identity against the stored rules: with an id, that rule must be
// within the caller's prefix and no other rule may have r's prefix and dimension; without
// one, r takes the id of the rule of its prefix and dimension if there is one (so retries do
// not pile up rules), and stays empty otherwise (a new rule).
func resolveRuleID(tx store.ReadTx, p auth.Principal, r *store.Rule) error {
	if r.ID != "" {
		if err := ownRule(tx, p, "rule.id", r.ID); err != nil {
			return err
		}
	}
	all, err := store.Rules(tx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if !o.Prefix.Equal(r.Prefix) || o.Dimension != r.Dimension || o.ID == r.ID {
			continue
		}
		if r.ID != "" {
			return fmt.Errorf("rule: %w (rule %s)", errRuleExists, o.ID)
		}
		r.ID = o.ID
	}
	return nil
}

// Page sizes of ListRoutingRules (feedback.proto).
const (
	defaultRulePage = 50
	maxRulePage     = 200
)

// ruleKey is a rule's place in the order of moreSpecific, as ListRoutingRules' page tokens
// hold it: its prefix, 0x00, its dimension (4 bytes, big-endian), its id. The caller saw all of
// it in the rule it was given last.
func ruleKey(r store.Rule) []byte {
	k := append([]byte(r.Prefix.String()), 0)
	k = binary.BigEndian.AppendUint32(k, uint32(r.Dimension))
	return append(k, r.ID...)
}

// readRuleKey reads ruleKey's output: the rule the next page starts after.
func readRuleKey(k []byte) (store.Rule, bool) {
	prefix, rest, ok := bytes.Cut(k, []byte{0})
	if !ok || len(rest) < 4 {
		return store.Rule{}, false
	}
	p, err := segment.Parse(string(prefix))
	if err != nil {
		return store.Rule{}, false
	}
	return store.Rule{Prefix: p, Dimension: commonv1.Dimension(binary.BigEndian.Uint32(rest)), ID: string(rest[4:])}, true
}

// listRules returns up to size rules within prefix, most specific first, that come after the
// rule after in that order (the zero Rule for the first page), and whether more follow. A rule
// added between two pages is listed if it sorts after the last one already given; none is
// given twice or skipped.
func (s *Service) listRules(prefix segment.Path, after store.Rule, size int) ([]store.Rule, bool, error) {
	if err := s.configReady(); err != nil { // replicas: not before the shared rules are read
		return nil, false, err
	}
	var out []store.Rule
	more := false
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		all, err := sortedRules(tx)
		if err != nil {
			return err
		}
		for _, r := range all {
			if !r.Prefix.Within(prefix) || (!after.Prefix.IsZero() && moreSpecific(r, after) <= 0) {
				continue
			}
			if len(out) == size {
				more = true
				break
			}
			out = append(out, r)
		}
		return nil
	})
	return out, more, err
}

// deleteRule deletes a rule within the caller's prefix.
func (s *Service) deleteRule(ctx context.Context, id string) error {
	if s.config != nil {
		return s.deleteShared(ctx, ruleKind, id) // replicas: the bucket first (sharedconfig_ops.go)
	}
	p, _ := auth.FromContext(ctx)
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		if err := ownRule(tx, p, "id", id); err != nil {
			return err
		}
		return store.UnsafeDeleteRule(tx, id)
	})
}

// ownRule checks that rule id exists within p's prefix. A rule outside it is the same NotFound
// as an unknown id.
func ownRule(tx store.ReadTx, p auth.Principal, field, id string) error {
	old, err := store.GetRule(tx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !p.Covers(old.Prefix.String()) {
		return fmt.Errorf("%s: %w: rule %q", field, errNotFound, id)
	}
	return nil
}
