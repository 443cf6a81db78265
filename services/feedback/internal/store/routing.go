package store

import (
	"encoding/json"
	"fmt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Rule is a routing rule: comments whose author segment is within Prefix, and that carry
// Dimension (or any, for UNSPECIFIED), go to OwnerGroup.
type Rule struct {
	ID         string
	Prefix     segment.Path
	Dimension  commonv1.Dimension
	OwnerGroup string
}

// ruleJSON is a Rule on disk (schema 3).
type ruleJSON struct {
	ID         string `json:"id"`
	Prefix     string `json:"segment_prefix"`
	Dimension  int32  `json:"dimension,omitempty"`
	OwnerGroup string `json:"owner_group"`
}

func encodeRule(r Rule) ([]byte, error) {
	if r.ID == "" || r.Prefix.IsZero() {
		return nil, fmt.Errorf("store: rule %q without an id or a prefix", r.ID)
	}
	return json.Marshal(ruleJSON{ID: r.ID, Prefix: r.Prefix.String(), Dimension: int32(r.Dimension), OwnerGroup: r.OwnerGroup})
}

func decodeRule(id, data []byte) (Rule, error) {
	var j ruleJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Rule{}, fmt.Errorf("store: decode rule %s: %w", id, err)
	}
	p, err := segment.Parse(j.Prefix)
	if err != nil {
		return Rule{}, fmt.Errorf("store: rule %s: %w", id, err)
	}
	return Rule{ID: j.ID, Prefix: p, Dimension: commonv1.Dimension(j.Dimension), OwnerGroup: j.OwnerGroup}, nil
}

// UnsafePutRule stores r under r.ID.
func UnsafePutRule(tx WriteTx, r Rule) error {
	bk, err := RoutingRules.writable(tx)
	if err != nil {
		return err
	}
	data, err := encodeRule(r)
	if err != nil {
		return err
	}
	return bk.Put([]byte(r.ID), data)
}

// GetRule returns rule id, or ErrNotFound.
func GetRule(tx ReadTx, id string) (Rule, error) {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return Rule{}, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return Rule{}, fmt.Errorf("%w: rule %q", ErrNotFound, id)
	}
	return decodeRule([]byte(id), v)
}

// UnsafeDeleteRule deletes rule id, or returns ErrNotFound.
func UnsafeDeleteRule(tx WriteTx, id string) error {
	bk, err := RoutingRules.writable(tx)
	if err != nil {
		return err
	}
	if bk.Get([]byte(id)) == nil {
		return fmt.Errorf("%w: rule %q", ErrNotFound, id)
	}
	return bk.Delete([]byte(id))
}

// Rules returns every routing rule, in id order. Rules are few (a handful per organisation),
// so matching and listing read them all.
func Rules(tx ReadTx) ([]Rule, error) {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return nil, err
	}
	var out []Rule
	err = bk.ForEach(func(k, v []byte) error {
		r, err := decodeRule(k, v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
