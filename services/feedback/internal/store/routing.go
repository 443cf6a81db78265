package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

// UnsafePutRule stores r under r.Id.
func UnsafePutRule(tx *bolt.Tx, r *feedbackv1.RoutingRule) error {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return err
	}
	data, err := marshal.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode rule %s: %w", r.Id, err)
	}
	return bk.Put([]byte(r.Id), data)
}

// UnsafeGetRule returns rule id, or ErrNotFound.
func UnsafeGetRule(tx *bolt.Tx, id string) (*feedbackv1.RoutingRule, error) {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return nil, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: rule %q", ErrNotFound, id)
	}
	r := &feedbackv1.RoutingRule{}
	if err := proto.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("store: decode rule %s: %w", id, err)
	}
	return r, nil
}

// UnsafeDeleteRule deletes rule id, or returns ErrNotFound.
func UnsafeDeleteRule(tx *bolt.Tx, id string) error {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return err
	}
	if bk.Get([]byte(id)) == nil {
		return fmt.Errorf("%w: rule %q", ErrNotFound, id)
	}
	return bk.Delete([]byte(id))
}

// UnsafeRules returns every routing rule. Rules are few (a handful per organisation), so
// matching reads them all.
func UnsafeRules(tx *bolt.Tx) ([]*feedbackv1.RoutingRule, error) {
	bk, err := RoutingRules.in(tx)
	if err != nil {
		return nil, err
	}
	var out []*feedbackv1.RoutingRule
	err = bk.ForEach(func(k, v []byte) error {
		r := &feedbackv1.RoutingRule{}
		if err := proto.Unmarshal(v, r); err != nil {
			return fmt.Errorf("store: decode rule %s: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
