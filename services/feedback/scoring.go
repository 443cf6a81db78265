package feedback

import (
	"errors"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
)

// applyScored stores an ItemScored result on its comment and, unless hr chose the owner, routes
// the comment: to riskOwner when the result carries a risk flag, whatever the routing rules,
// otherwise by the rules. The flags are stored even when hr chose the owner. It runs in the
// consumer's transaction, which also records the event id, so a redelivery changes nothing.
// Results for survey responses, and for comments this store does not have (a store restored
// from an older backup, or another replica's comment), are recorded and skipped.
func (s *Service) applyScored(tx *bolt.Tx, ev bus.Event) error {
	var it eventsv1.ItemScored
	if err := proto.Unmarshal(ev.Data, &it); err != nil {
		return fmt.Errorf("decode ItemScored %s: %v: %w", ev.ID, err, consumer.ErrPermanent)
	}
	if it.Kind != eventsv1.ItemKind_ITEM_KIND_FEEDBACK {
		return nil
	}
	if math.IsNaN(it.Score) || it.Score < -1 || it.Score > 1 {
		return fmt.Errorf("ItemScored %s: score %v outside [-1, 1]: %w", ev.ID, it.Score, consumer.ErrPermanent)
	}
	if _, ok := commonv1.SentimentLabel_name[int32(it.Label)]; !ok {
		return fmt.Errorf("ItemScored %s: unknown label %d: %w", ev.ID, it.Label, consumer.ErrPermanent)
	}
	c, err := store.GetComment(tx, it.ItemId)
	if errors.Is(err, store.ErrNotFound) {
		// With replicas, every replica sees every score (replicas.go) and holds some of the
		// comments: a score for another replica's comment is no anomaly.
		if s.cfg.Replica.Name == "" {
			s.host.Log.Warn("score for an unknown comment skipped")
		}
		return nil
	}
	if err != nil {
		return err
	}
	c.SentimentScore, c.SentimentLabel = it.Score, it.Label
	scores := map[commonv1.Dimension]float64{}
	for _, d := range it.Dimensions {
		if _, ok := commonv1.Dimension_name[int32(d.Dimension)]; !ok || d.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED {
			continue
		}
		scores[d.Dimension] = d.Score
		if !slices.Contains(c.Dimensions, d.Dimension) {
			c.Dimensions = append(c.Dimensions, d.Dimension)
		}
	}
	c.Risks = riskFlags(it.Risks)
	loop, err := store.GetLoop(tx, c.ID)
	if err != nil {
		return err
	}
	switch {
	case loop.OwnerByHR:
		// hr's choice stands; the flags are recorded all the same.
	case len(c.Risks) > 0:
		c.OwnerGroup = riskOwner
	default:
		rules, err := sortedRules(tx)
		if err != nil {
			return err
		}
		if owner := route(rules, c.AuthorSegment, c.Dimensions, scores); owner != "" {
			c.OwnerGroup = owner
		}
	}
	return s.unsafePutComment(tx, c)
}

// riskOwner is the owner group of a comment with a risk flag (harassment or discrimination,
// intent to quit, burnout or distress, safety): HR must see it at once, whatever the rules.
const riskOwner = "hr"

// riskFlags is the set of flags of an ItemScored: distinct, in enum order, UNSPECIFIED left
// out. A number this version does not know is kept: a flag from a newer analyzer still sends
// the comment to hr.
func riskFlags(in []commonv1.RiskFlag) []commonv1.RiskFlag {
	var out []commonv1.RiskFlag
	for _, f := range in {
		if f != commonv1.RiskFlag_RISK_FLAG_UNSPECIFIED && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
