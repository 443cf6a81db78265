package feedback

import (
	"cmp"
	"context"
	"crypto/rand"
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

// rule is a parsed routing rule.
type rule struct {
	*feedbackv1.RoutingRule
	prefix segment.Path
}

// moreSpecific orders rules most specific first: the deeper segment prefix, then a rule for a
// dimension before one for any, then by prefix, dimension and id so that the order is total.
func moreSpecific(a, b rule) int {
	return cmp.Or(
		-cmp.Compare(a.prefix.Depth(), b.prefix.Depth()),
		-cmp.Compare(min(a.Dimension, 1), min(b.Dimension, 1)),
		cmp.Compare(a.SegmentPrefix, b.SegmentPrefix),
		cmp.Compare(a.Dimension, b.Dimension),
		cmp.Compare(a.Id, b.Id),
	)
}

func unsafeRules(tx *bolt.Tx) ([]rule, error) {
	rs, err := store.UnsafeRules(tx)
	if err != nil {
		return nil, err
	}
	out := make([]rule, 0, len(rs))
	for _, r := range rs {
		p, err := segment.Parse(r.SegmentPrefix)
		if err != nil {
			return nil, fmt.Errorf("stored rule %s: %w", r.Id, err)
		}
		out = append(out, rule{r, p})
	}
	slices.SortFunc(out, moreSpecific)
	return out, nil
}

// route picks the owner group of a comment from author with dims, whose scored dimensions
// carry scores. The rule is: among the rules whose prefix holds the author's segment and whose
// dimension is one of the comment's (or any), the deepest prefix wins; at equal depth a rule
// for a dimension beats a rule for any; between rules for different dimensions of the comment
// at equal depth, the dimension the comment is most negative about wins (that is where action
// is needed), then the lower enum value. "" when no rule matches.
func route(rules []rule, author segment.Path, dims []commonv1.Dimension, scores map[commonv1.Dimension]float64) string {
	var best *rule
	for i := range rules {
		r := &rules[i]
		if !author.Within(r.prefix) {
			continue
		}
		if r.Dimension != commonv1.Dimension_DIMENSION_UNSPECIFIED && !slices.Contains(dims, r.Dimension) {
			continue
		}
		if best == nil {
			best = r
			continue
		}
		if r.prefix.Depth() != best.prefix.Depth() || (r.Dimension == 0) != (best.Dimension == 0) {
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

// validateRule checks a rule from a request; the caller checks its prefix against the token.
func validateRule(r *feedbackv1.RoutingRule) (rule, error) {
	if r == nil {
		return rule{}, rpcerr.InvalidArgument("rule", "required")
	}
	if len(r.Id) > maxIDBytes {
		return rule{}, rpcerr.InvalidArgument("rule.id", fmt.Sprintf("must be at most %d bytes", maxIDBytes))
	}
	p, err := segment.Parse(r.SegmentPrefix)
	if err != nil {
		return rule{}, rpcerr.InvalidArgument("rule.segment_prefix", err.Error())
	}
	if _, ok := commonv1.Dimension_name[int32(r.Dimension)]; !ok {
		return rule{}, rpcerr.InvalidArgument("rule.dimension", fmt.Sprintf("unknown dimension %d", r.Dimension))
	}
	if err := checkOwnerGroup("rule.owner_group", r.OwnerGroup); err != nil {
		return rule{}, err
	}
	return rule{&feedbackv1.RoutingRule{Id: r.Id, SegmentPrefix: p.String(), Dimension: r.Dimension, OwnerGroup: r.OwnerGroup}, p}, nil
}

// upsertRule stores r. Without an id it replaces the rule of the same prefix and dimension if
// there is one (so that retries do not pile up rules), else creates one; with an id it
// replaces that rule, which must exist within the caller's prefix, and refuses to make two
// rules of one prefix and dimension, whose order would be arbitrary.
func (s *Service) upsertRule(ctx context.Context, r rule) (*feedbackv1.RoutingRule, error) {
	newID := rand.Text()
	p, _ := auth.FromContext(ctx)
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		all, err := unsafeRules(tx)
		if err != nil {
			return err
		}
		if r.Id != "" {
			if err := unsafeOwnRule(tx, p, "rule.id", r.Id); err != nil {
				return err
			}
		}
		for _, o := range all {
			if o.SegmentPrefix != r.SegmentPrefix || o.Dimension != r.Dimension || o.Id == r.Id {
				continue
			}
			if r.Id != "" {
				return fmt.Errorf("rule: %w (rule %s)", errRuleExists, o.Id)
			}
			r.Id = o.Id
		}
		if r.Id == "" {
			r.Id = newID
		}
		return store.UnsafePutRule(tx, r.RoutingRule)
	})
	if err != nil {
		return nil, err
	}
	return r.RoutingRule, nil
}

// listRules returns the rules under prefix, most specific first.
func (s *Service) listRules(prefix segment.Path) ([]*feedbackv1.RoutingRule, error) {
	var out []*feedbackv1.RoutingRule
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		all, err := unsafeRules(tx)
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.prefix.Within(prefix) {
				out = append(out, r.RoutingRule)
			}
		}
		return nil
	})
	return out, err
}

// deleteRule deletes a rule within the caller's prefix.
func (s *Service) deleteRule(ctx context.Context, id string) error {
	p, _ := auth.FromContext(ctx)
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		if err := unsafeOwnRule(tx, p, "id", id); err != nil {
			return err
		}
		return store.UnsafeDeleteRule(tx, id)
	})
}

// unsafeOwnRule checks that rule id exists within p's prefix. A rule outside it is the same
// NotFound as an unknown id.
func unsafeOwnRule(tx *bolt.Tx, p auth.Principal, field, id string) error {
	old, err := store.UnsafeGetRule(tx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !p.Covers(old.SegmentPrefix) {
		return fmt.Errorf("%s: %w: rule %q", field, errNotFound, id)
	}
	return nil
}
