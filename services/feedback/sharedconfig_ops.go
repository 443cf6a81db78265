package feedback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/sharedconf"
)

// The changes of the shared configuration on a replica (sharedconfig.go): the same checks as
// with one replica, against the store caught up with the bucket (a record not there yet is
// fetched from the bucket first), then the bucket, then the store.

// readConfig runs fn in a read transaction after the catch-up; when fn reports errNotFound
// for the record of kind and id, the record is fetched from the bucket and fn runs again.
func (s *Service) readConfig(kind, id string, fn func(tx *bolt.Tx) error) error {
	if err := s.configReady(); err != nil {
		return err
	}
	err := s.host.DB.View(fn)
	if id != "" && errors.Is(err, errNotFound) {
		if err = s.fetchConfig(kind, id); err == nil {
			err = s.host.DB.View(fn)
		}
	}
	return err
}

// upsertRuleShared is upsertRule on a replica. Two replicas creating a rule for the same
// prefix and dimension in the same instant may both create one (each checks its own store);
// ListRoutingRules shows both and either can be deleted.
func (s *Service) upsertRuleShared(ctx context.Context, r store.Rule, apply bool) (store.Rule, error) {
	p, _ := auth.FromContext(ctx)
	err := s.readConfig(ruleKind, r.ID, func(tx *bolt.Tx) error { return resolveRuleID(tx, p, &r) })
	if err != nil {
		return store.Rule{}, err
	}
	if r.ID == "" {
		r.ID = rand.Text()
	}
	val, err := ruleValue(r, apply)
	if err != nil {
		return store.Rule{}, err
	}
	if _, err := s.editConfig(ruleKind, r.ID, func([]byte) (*sharedconf.Change, error) {
		return &sharedconf.Change{Value: val}, nil
	}, nil); err != nil {
		return store.Rule{}, err
	}
	s.host.Log.Info("routing rule set", "rule", r.ID, "prefix", r.Prefix.String(), "bucket", ConfigBucket)
	return r, nil
}

// deleteShared deletes the rule or target id, within the caller's prefix, on a replica. A
// record of a store that ran alone and is not in the bucket yet is deleted from the store.
func (s *Service) deleteShared(ctx context.Context, kind, id string) error {
	p, _ := auth.FromContext(ctx)
	own := func(tx *bolt.Tx) error {
		if kind == ruleKind {
			return ownRule(tx, p, "id", id)
		}
		_, err := ownTarget(tx, p, "id", id)
		return err
	}
	if err := s.readConfig(kind, id, own); err != nil {
		return err
	}
	wrote, err := s.editConfig(kind, id, func(cur []byte) (*sharedconf.Change, error) {
		return &sharedconf.Change{Delete: true}, nil
	}, nil)
	if err != nil || wrote {
		return err
	}
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		if kind == ruleKind {
			return ignoreNotFound(store.UnsafeDeleteRule(tx, id))
		}
		return ignoreNotFound(store.UnsafeDeleteTarget(tx, id))
	})
}

// setTargetShared is setTarget on a replica.
func (s *Service) setTargetShared(ctx context.Context, t store.Target) (store.Target, string, error) {
	p, _ := auth.FromContext(ctx)
	err := s.readConfig(targetKind, t.ID, func(tx *bolt.Tx) error {
		if t.ID == "" {
			return nil
		}
		old, err := ownTarget(tx, p, "target.id", t.ID)
		t.Secret = old.Secret
		return err
	})
	if err != nil {
		return store.Target{}, "", err
	}
	if t.ID == "" {
		t.ID = rand.Text()
	}
	secret := ""
	switch {
	case t.Kind != kindWebhook:
		t.Secret = nil
	case t.Secret == nil:
		fresh := make([]byte, 32)
		rand.Read(fresh)
		secret = hex.EncodeToString(fresh)
		t.Secret = []byte(secret)
	}
	val, err := store.EncodeTarget(t)
	if err != nil {
		return store.Target{}, "", err
	}
	if _, err := s.editConfig(targetKind, t.ID, func([]byte) (*sharedconf.Change, error) {
		return &sharedconf.Change{Value: val}, nil
	}, nil); err != nil {
		return store.Target{}, "", err
	}
	return t, secret, nil
}

// createPlanShared is createPlan on a replica: the plan in the bucket, then in the store with
// its action_created event (queued here only, once).
func (s *Service) createPlanShared(principal auth.Principal, p *store.Plan, day time.Time) (*store.Plan, error) {
	if err := s.configReady(); err != nil {
		return nil, err
	}
	if err := s.host.DB.View(func(tx *bolt.Tx) error { return s.checkPlanLinks(tx, principal, p) }); err != nil {
		return nil, err
	}
	val, err := store.EncodePlan(p)
	if err != nil {
		return nil, err
	}
	_, err = s.editConfig(planKind, p.ID, func(cur []byte) (*sharedconf.Change, error) {
		if cur != nil {
			return nil, fmt.Errorf("plan id %s is taken", p.ID)
		}
		return &sharedconf.Change{Value: val}, nil
	}, func(tx *bolt.Tx) error {
		return s.unsafePublishPlan(tx, events.FeedbackActionCreated, events.ActionCreatedID(p.ID), p, day)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// updatePlanShared is updatePlan on a replica: the plan as the bucket holds it is changed by
// compare and swap, then stored with its action_updated event (queued here only, once).
func (s *Service) updatePlanShared(ctx context.Context, id string, to feedbackv1.ActionPlanStatus, note string, day time.Time) (*store.Plan, error) {
	// The plan must be known and the caller's: in the store (fetched if new), as without
	// replicas.
	if err := s.readConfig(planKind, id, func(tx *bolt.Tx) error {
		_, err := ownPlan(ctx, tx, "plan_id", id)
		return err
	}); err != nil {
		return nil, err
	}
	var out *store.Plan
	_, err := s.editConfig(planKind, id, func(cur []byte) (*sharedconf.Change, error) {
		var p *store.Plan
		var err error
		if cur == nil { // a plan of a store that ran alone, not in the bucket yet
			err = s.host.DB.View(func(tx *bolt.Tx) error {
				p, err = ownPlan(ctx, tx, "plan_id", id)
				return err
			})
		} else {
			p, err = store.DecodePlan(cur)
		}
		if err != nil {
			return nil, err
		}
		if err := changePlan(p, to, note, day); err != nil {
			return nil, err
		}
		val, err := store.EncodePlan(p)
		if err != nil {
			return nil, err
		}
		out = p
		return &sharedconf.Change{Value: val}, nil
	}, func(tx *bolt.Tx) error {
		return s.unsafePublishPlan(tx, events.FeedbackActionUpdated, events.ActionUpdatedID(out.ID, out.Seq), out, day)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
