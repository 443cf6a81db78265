package feedback

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/sharedconf"
)

// What operators configure, shared between replicas (issue 16), on platform/sharedconf as
// pulse shares its surveys. With --replica, routing rules, notification targets and action
// plans live in the JetStream key-value bucket ConfigBucket, one key per record
// ("rule.<id>", "target.<id>", "plan.<id>"), whose value is the record as the store keeps it
// (internal/store/shared.go). UpsertRoutingRule, DeleteRoutingRule, SetNotificationTarget,
// DeleteNotificationTarget, CreateActionPlan and UpdateActionPlan write the bucket first
// (create, or compare and swap at the revision read), then the local store; every replica
// watches the bucket and applies each value to its own store, in one transaction with the
// revision applied. So a rule set through one replica routes the comments scored on every
// replica, a target set on one is told by whichever replica delivers, and a plan created on
// one is read and moved on the other.
//
// Effects that belong to the change, not to the record, happen once, where the change was
// made: a plan's action_created / action_updated event is queued by the writer in the
// transaction that applies the value to its store (sharedconf's "also"). A rule upserted with
// apply_to_open carries it in its value: every replica re-routes its own open comments when it
// applies that revision (each comment lives on one replica). CheckPlanDeadlines runs on every
// replica; its action_due event id is the same on each, so the stream's duplicate window drops
// the copies, and a replica keeps its own record that it told (DueNoticeDay) when a later value
// of the plan arrives.
//
// Failure modes (sharedconf): NATS unreachable, those calls are Unavailable naming the bucket
// and nothing is written; killed between the bucket and the store, the value is applied at
// the next start (a plan created then has no action_created event: the writer died before
// queueing it); a replica down during a change reads the bucket before it serves, and answers
// the calls that read rules, targets or plans Unavailable until it has caught up (scores wait
// too: routing by an old rule set would route for good). A store that ran alone puts its
// records in the bucket at its first start as a replica.
//
// The segment registry's copy is not here: every replica applies every SegmentUpserted event
// under its own durable (replicas.go). Comments, threads and the notification queue stay where
// they were taken.

// ConfigBucket is the key-value bucket of the configuration shared by feedback replicas.
const ConfigBucket = "voix_config_feedback"

// Key kinds of ConfigBucket.
const (
	ruleKind   = "rule."
	targetKind = "target."
	planKind   = "plan."
)

// configKeyID is what an id may be to name a key; ids this service makes are rand.Text
// (upper-case base32). A record whose id is not one stays local (none is, in practice).
var configKeyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// configKey is the bucket key of the record of kind and id, and whether id can name one.
func configKey(kind, id string) (string, bool) {
	return kind + id, configKeyID.MatchString(id)
}

// sharedRule is a rule's value in the bucket: the stored rule, and whether the replicas
// re-route their open comments by it when they apply this revision.
type sharedRule struct {
	Rule    []byte `json:"rule"`
	Reroute bool   `json:"reroute,omitempty"`
}

// startConfig opens the shared configuration when the service is a replica (after the marks,
// which decide that), and waits up to sharedconf.DefaultCatchUp for the catch-up. Without a
// replica name it does nothing.
func (s *Service) startConfig() error {
	if s.marks == nil {
		return nil
	}
	c, err := sharedconf.Start(sharedconf.Config{
		JS: s.host.Bus.JetStream(), Bucket: ConfigBucket, Replicas: s.cfg.NATS.Replicas,
		Description: "voix feedback routing rules, notification targets and action plans shared by the replicas (services/feedback/sharedconfig.go)",
		DB:          s.host.DB, Apply: s.unsafeApplyConfig, Seed: s.seedConfig,
		Service: "feedback", What: "the shared routing rules, notification targets and action plans", Log: s.host.Log,
	}, s.host.Go)
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	s.config = c
	return nil
}

// configReady fails with Unavailable until the first catch-up is done. Nil with one replica.
func (s *Service) configReady() error {
	if s.config == nil {
		return nil
	}
	return s.config.Ready()
}

// fetchConfig applies the record of kind and id from the bucket when this store does not
// have it (written on another replica a moment ago). Nothing with one replica.
func (s *Service) fetchConfig(kind, id string) error {
	key, ok := configKey(kind, id)
	if s.config == nil || !ok {
		return nil
	}
	_, err := s.config.Fetch(key)
	return err
}

// unsafeApplyConfig writes revision rev of key (val nil: deleted) to the store in tx.
func (s *Service) unsafeApplyConfig(tx *bolt.Tx, key string, val []byte, rev uint64) error {
	switch {
	case strings.HasPrefix(key, ruleKind):
		id := strings.TrimPrefix(key, ruleKind)
		if val == nil {
			return ignoreNotFound(store.UnsafeDeleteRule(tx, id))
		}
		var sr sharedRule
		r, err := decodeShared(val, &sr)
		if err != nil {
			return err
		}
		if err := store.UnsafePutRule(tx, r); err != nil || !sr.Reroute {
			return err
		}
		return s.unsafeReroute(tx, r)
	case strings.HasPrefix(key, targetKind):
		id := strings.TrimPrefix(key, targetKind)
		if val == nil {
			return ignoreNotFound(store.UnsafeDeleteTarget(tx, id))
		}
		t, err := store.DecodeTarget(val)
		if err != nil {
			return fmt.Errorf("%w: %v", sharedconf.ErrUnreadable, err)
		}
		return store.UnsafePutTarget(tx, t)
	case strings.HasPrefix(key, planKind):
		if val == nil {
			return nil // plans are not deleted
		}
		p, err := store.DecodePlan(val)
		if err != nil {
			return fmt.Errorf("%w: %v", sharedconf.ErrUnreadable, err)
		}
		// This replica's record that it told a plan was due stays.
		if old, err := store.GetPlan(tx, p.ID); err == nil && old.DueNoticeDay.After(p.DueNoticeDay) {
			p.DueNoticeDay = old.DueNoticeDay
		}
		return store.UnsafePutPlan(tx, p)
	}
	return nil // a key of a later version
}

func decodeShared(val []byte, sr *sharedRule) (store.Rule, error) {
	if err := json.Unmarshal(val, sr); err != nil {
		return store.Rule{}, fmt.Errorf("%w: rule: %v", sharedconf.ErrUnreadable, err)
	}
	r, err := store.DecodeRule(sr.Rule)
	if err != nil {
		return store.Rule{}, fmt.Errorf("%w: %v", sharedconf.ErrUnreadable, err)
	}
	return r, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// seedConfig lists this store's rules, targets and plans for the bucket: sharedconf puts those
// it has not applied from the bucket there (a store that ran alone before).
func (s *Service) seedConfig(tx *bolt.Tx) ([]sharedconf.Entry, error) {
	var out []sharedconf.Entry
	add := func(kind, id string, val []byte, err error) error {
		key, ok := configKey(kind, id)
		if err != nil || !ok {
			return err
		}
		out = append(out, sharedconf.Entry{Key: key, Value: val})
		return nil
	}
	rules, err := store.Rules(tx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		val, err := ruleValue(r, false)
		if err := add(ruleKind, r.ID, val, err); err != nil {
			return nil, err
		}
	}
	targets, err := store.AllTargets(tx)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		val, err := store.EncodeTarget(t)
		if err := add(targetKind, t.ID, val, err); err != nil {
			return nil, err
		}
	}
	err = store.ScanPlans(tx, nil, nil, func(_ []byte, p *store.Plan) (bool, error) {
		val, err := store.EncodePlan(p)
		return true, add(planKind, p.ID, val, err)
	})
	return out, err
}

// ruleValue is r's value in the bucket.
func ruleValue(r store.Rule, reroute bool) ([]byte, error) {
	b, err := store.EncodeRule(r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sharedRule{Rule: b, Reroute: reroute})
}

// editConfig changes the record of kind and id in the bucket (sharedconf.Shared.Edit), then
// in the store, running also in the store's transaction when it wrote.
func (s *Service) editConfig(kind, id string, change func(cur []byte) (*sharedconf.Change, error), also func(tx *bolt.Tx) error) (bool, error) {
	key, ok := configKey(kind, id)
	if !ok {
		return false, fmt.Errorf("id %q cannot name a shared record", id)
	}
	return s.config.Edit(key, change, also)
}
