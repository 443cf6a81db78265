package pulse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/sharedconf"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Shared survey definitions between replicas (issue 16), on platform/sharedconf (the bucket,
// its watch, catch-up, fetch on miss, compare and swap and seeding are that package's; this
// file says what pulse puts in it). With --replica, every replica takes
// answers for any survey, so every replica must know every survey and agree on its state. A
// survey lives in the JetStream key-value bucket ConfigBucket, one key per survey
// ("survey.<id>") whose value is the whole survey as the store keeps it (definition, settings,
// state, waves). Creating, closing or changing the settings of a survey writes the bucket first
// (Create, or Update at the revision read: compare and swap), then applies the written value to
// the local store; every replica watches the bucket and applies each value to its own store, in
// one transaction with the revision applied (store.ConfigRevisions), skipping a value whose
// revision is not higher. After applying, the scheduler's deterministic part runs (waves due by
// now are added the same way on every replica, WaveOpened/WaveClosed go to the outbox; their
// event ids are the same on every replica, so the stream's duplicate window drops the copies
// published within it).
//
// Failure modes:
//   - NATS unreachable: CreateSurvey, CloseSurvey and UpdateSurveySettings answer Unavailable
//     naming the bucket and change nothing (the bucket is written before the store). Answers
//     are refused anyway: the one-response-per-wave marks need NATS too (replicas.go).
//   - Killed after the bucket write and before the local apply: the value is in the bucket, and
//     the watch applies it at the next start. A CreateSurvey retried with its idempotency key on
//     any replica finds the key's entry ("create.<hash>") and returns the same survey.
//   - A replica down during an edit: at start it applies the bucket's latest value of every
//     survey before serving (Start waits for the catch-up up to sharedconf.DefaultCatchUp); if NATS cannot
//     be reached then, it serves but refuses every call that reads a survey with Unavailable
//     until it has caught up.
//   - A close or edit reaches the other replicas after the watch delivers it (milliseconds;
//     seconds if the watch must be re-created after a NATS node fails): until then they may
//     take an answer for a wave the edit closed. That answer is stored where it was taken.
//
// The invitations of lifecycle surveys go the same way ("invite.<hex of the invitation tag>",
// value: opens and closes; TriggerLifecycleSurvey writes the bucket, then the store). An
// invitation an answer uses up is deleted in the store of the replica that took the answer
// only: another replica still accepts an answer to the same repeatable moment in a later
// cohort wave while the invitation's window lasts (the marker refuses it within one wave).
//
// Answers stay in the store of the replica that took them; GetResults on any replica adds
// every other replica's raw tallies before suppressing (results_replicas.go). The segment registry is
// in the bucket too ("segment.<path>", upsertSegmentShared), so its versions follow each other
// whichever replica sets a headcount. Feedback shares its routing rules, notification targets
// and action plans the same way (services/feedback/sharedconfig.go).

// ConfigBucket is the key-value bucket of the surveys shared by pulse replicas.
const ConfigBucket = "voix_config_pulse"

// surveyConfigKey is the bucket key of survey id.
func surveyConfigKey(id string) string { return "survey." + id }

// configKeyID is what a survey id may be to name a key (rand.Text ids are upper-case base32).
var configKeyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// sharedConfig is a replica's handle on the bucket and the state of its watch
// (platform/sharedconf).
type sharedConfig = sharedconf.Shared

// startConfig opens the shared survey definitions when the service is a replica, and waits
// up to sharedconf.DefaultCatchUp for the catch-up. Without a replica name it does nothing.
func (s *Service) startConfig() error {
	if s.marks == nil {
		return nil
	}
	c, err := sharedconf.Start(sharedconf.Config{
		JS: s.host.Bus.JetStream(), Bucket: ConfigBucket, Replicas: s.cfg.NATS.Replicas,
		Description: "voix pulse surveys shared by the replicas (services/pulse/sharedconfig.go)",
		DB:          s.host.DB, Revisions: string(store.ConfigRevisions),
		Apply: s.unsafeApplyConfig, Seed: s.seedConfig,
		Service: "pulse", What: "the shared survey definitions", Log: s.host.Log,
	}, s.host.Go)
	if err != nil {
		return fmt.Errorf("pulse: %w", err)
	}
	s.config = c
	return nil
}

func (s *Service) unavailable(err error) error { return s.config.Unavailable(err) }

// caughtUp fails with Unavailable until the first catch-up is done. Nil with one replica.
func (s *Service) caughtUp() error {
	if s.config == nil {
		return nil
	}
	return s.config.Ready()
}

// seedConfig lists the surveys of this store for the bucket: sharedconf puts those it has
// not applied from the bucket there (a store that ran alone before).
func (s *Service) seedConfig(tx *bolt.Tx) ([]sharedconf.Entry, error) {
	ids, err := store.SurveyIDs(tx)
	if err != nil {
		return nil, err
	}
	var out []sharedconf.Entry
	if bk := tx.Bucket(store.Segments); bk != nil {
		err := bk.ForEach(func(k, v []byte) error {
			out = append(out, sharedconf.Entry{Key: "segment." + string(k), Value: append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		if !configKeyID.MatchString(id) {
			continue
		}
		r, err := store.GetSurvey(tx, id)
		if err != nil {
			return nil, err
		}
		val, err := store.EncodeSurvey(r)
		if err != nil {
			return nil, err
		}
		out = append(out, sharedconf.Entry{Key: surveyConfigKey(id), Value: val})
	}
	return out, nil
}

// applyConfig applies revision rev of key to the store, unless the store holds it or a later
// one (sharedconf.Shared.Apply).
func (s *Service) applyConfig(key string, val []byte, rev uint64) error {
	return s.config.Apply(key, val, rev, nil)
}

// unsafeApplyConfig writes revision rev of key in tx: a survey, with the waves due by now (the
// scheduler's deterministic part), or an invitation. A value this version cannot read is
// sharedconf.ErrUnreadable: logged and skipped. An invitation used up by an answer here is not
// put back by a replay: its revision is recorded. Surveys and invitations are never deleted from
// the bucket; a deletion an operator made by hand is ignored.
func (s *Service) unsafeApplyConfig(tx *bolt.Tx, key string, val []byte, rev uint64) error {
	if val == nil {
		return nil
	}
	if strings.HasPrefix(key, "invite.") {
		tag, err := hex.DecodeString(strings.TrimPrefix(key, "invite."))
		var inv store.Invitation
		if err == nil {
			err = json.Unmarshal(val, &inv)
		}
		if err != nil {
			return fmt.Errorf("%w: invitation: %v", sharedconf.ErrUnreadable, err)
		}
		return store.UnsafePutInvitation(tx, tag, inv)
	}
	if p, ok := strings.CutPrefix(key, "segment."); ok {
		path, err := segment.Parse(p)
		var rec store.Segment
		if err == nil {
			err = json.Unmarshal(val, &rec)
		}
		if err != nil {
			return fmt.Errorf("%w: segment: %v", sharedconf.ErrUnreadable, err)
		}
		return store.UnsafePutSegment(tx, path, rec)
	}
	id, ok := strings.CutPrefix(key, "survey.")
	if !ok {
		return nil // an idempotency entry of CreateSurvey, or a key of a later version
	}
	rec, err := store.DecodeSurvey(val)
	if err == nil && rec.ID != id {
		err = fmt.Errorf("value of %s is survey %q", key, rec.ID)
	}
	var sv *survey
	if err == nil {
		sv, err = surveyFromRecord(rec)
	}
	if err != nil {
		return fmt.Errorf("%w: survey: %v", sharedconf.ErrUnreadable, err)
	}
	if err := unsafePutSurvey(tx, sv); err != nil {
		return err
	}
	return s.unsafeAdvance(tx, sv, s.cfg.Now())
}

// fetchSurvey applies survey id from the bucket when this store does not have it yet (created
// on another replica a moment ago, not delivered by the watch yet). It reports whether it
// found one.
func (s *Service) fetchSurvey(id string) (bool, error) {
	if s.config == nil || !configKeyID.MatchString(id) {
		return false, nil
	}
	return s.config.Fetch(surveyConfigKey(id))
}

// localSurvey reads survey id from the store.
func (s *Service) localSurvey(id string) (*survey, error) {
	var sv *survey
	err := s.host.DB.View(func(tx *bolt.Tx) (err error) {
		sv, err = getSurvey(tx, id)
		return err
	})
	return sv, err
}

// createKey is the value of a CreateSurvey idempotency entry.
type createKey struct {
	Survey  string `json:"survey"`
	Request []byte `json:"request"`
}

// createShared is createSurvey on a replica: the idempotency entry (if a key is given), then
// the survey, in the bucket; then the survey in the store.
func (s *Service) createShared(caller, key string, hash []byte, sv *survey) (*survey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.config.Timeout())
	defer cancel()
	kv, err := s.config.Bucket(ctx)
	if err != nil {
		return nil, s.unavailable(err)
	}
	if key != "" {
		sum := sha256.Sum256([]byte(caller + "\x00" + key))
		ik := "create." + hex.EncodeToString(sum[:])
		val, err := json.Marshal(createKey{Survey: sv.Id, Request: hash})
		if err != nil {
			return nil, err
		}
		_, err = kv.Create(ctx, ik, val)
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			e, err := kv.Get(ctx, ik)
			if err != nil {
				return nil, s.unavailable(err)
			}
			var prev createKey
			if err := json.Unmarshal(e.Value(), &prev); err != nil {
				return nil, fmt.Errorf("idempotency entry %s: %w", ik, err)
			}
			if !bytes.Equal(prev.Request, hash) {
				return nil, fmt.Errorf("idempotency_key: %w: it created survey %s from another request; use a new key", errKeyReused, prev.Survey)
			}
			// The first call stored the survey, or died before: then this one does, same id.
			found, err := s.fetchSurvey(prev.Survey)
			if err != nil {
				return nil, err
			}
			if found {
				s.host.Log.Info("survey create retried", "survey", prev.Survey)
				return s.localSurvey(prev.Survey)
			}
			sv.Id = prev.Survey
		case err != nil:
			return nil, s.unavailable(err)
		}
	}
	rec, err := surveyRecord(sv.Survey)
	if err != nil {
		return nil, err
	}
	val, err := store.EncodeSurvey(rec)
	if err != nil {
		return nil, err
	}
	rev, err := kv.Create(ctx, surveyConfigKey(sv.Id), val)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists): // a retry of the same key, at the same time
		if _, err := s.fetchSurvey(sv.Id); err != nil {
			return nil, err
		}
		return s.localSurvey(sv.Id)
	case err != nil:
		return nil, s.unavailable(err)
	}
	if err := s.applyConfig(surveyConfigKey(sv.Id), val, rev); err != nil {
		return nil, err
	}
	s.host.Log.Info("survey created", "survey", sv.Id, "audience", sv.Audience, "caller", caller, "revision", rev)
	return s.localSurvey(sv.Id)
}

// editShared changes survey id in the bucket with edit, at the revision read (compare and swap,
// read again on a conflict), then applies it to the store. edit reports whether it changed
// the survey; the waves due at now are added first, as the scheduler would.
func (s *Service) editShared(id string, now time.Time, edit func(*survey) (bool, error)) (*survey, error) {
	_, err := s.config.Edit(surveyConfigKey(id), func(cur []byte) (*sharedconf.Change, error) {
		var sv *survey
		if cur == nil {
			// Created before the service ran as a replica and not seeded yet: seeded now.
			var err error
			if sv, err = s.localSurvey(id); err != nil {
				return nil, err
			}
		} else {
			rec, err := store.DecodeSurvey(cur)
			if err != nil {
				return nil, err
			}
			if sv, err = surveyFromRecord(rec); err != nil {
				return nil, err
			}
		}
		// The waves due by now, as every replica's scheduler adds them (no events here).
		st := store.ScheduleState{Opened: math.MaxUint32, Closed: math.MaxUint32}
		if _, _, err := advance(sv, &st, now); err != nil {
			return nil, err
		}
		changed, err := edit(sv)
		if err != nil || !changed {
			return nil, err
		}
		rec, err := surveyRecord(sv.Survey)
		if err != nil {
			return nil, err
		}
		val, err := store.EncodeSurvey(rec)
		if err != nil {
			return nil, err
		}
		return &sharedconf.Change{Value: val}, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return s.localSurvey(id)
}

// closeShared is closeSurvey on a replica.
func (s *Service) closeShared(id string, now time.Time) (*survey, error) {
	sv, err := s.editShared(id, now, func(sv *survey) (bool, error) {
		if sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED {
			return false, nil
		}
		closeWaves(sv, now)
		return true, nil
	})
	if err == nil {
		s.host.Log.Info("survey closed", "survey", id)
	}
	return sv, err
}

// updateSettingsShared is updateSettings on a replica. The other replicas' responses are not
// in this store, so k and the comment threshold are fixed once a wave has opened (someone may
// have answered it anywhere), as well as when this store has a response.
func (s *Service) updateSettingsShared(id string, set settings, now time.Time) (*survey, error) {
	return s.editShared(id, now, func(sv *survey) (bool, error) {
		before := proto.Clone(sv.Survey)
		err := applySettings(sv, set, func() (string, error) {
			for _, w := range sv.Waves {
				if !now.Before(w.OpensAt.AsTime()) {
					return fmt.Sprintf("has a wave opened on %s (replicas: any of them may hold a response)", w.OpensAt.AsTime().Format(time.RFC3339)), nil
				}
			}
			var why string
			err := s.host.DB.View(func(tx *bolt.Tx) (err error) {
				why, err = hasResponses(tx, id)
				return err
			})
			return why, err
		}, func() error { return nil })
		return err == nil && !proto.Equal(before, sv.Survey), err
	})
}

// inviteConfigKey is the bucket key of the lifecycle invitation under tag (a keyed hash of
// the person, scoped to the survey: the key the store already uses).
func inviteConfigKey(tag []byte) string { return "invite." + hex.EncodeToString(tag) }

// triggerShared is trigger on a replica: the invitations go to the bucket, then to the store.
// If NATS fails part way, the call is Unavailable and a retry puts the same values again.
func (s *Service) triggerShared(kind pulsev1.SurveyKind, ref string, seg segment.Path, effective time.Time) ([]string, error) {
	var invs []newInvitation
	err := s.host.DB.View(func(tx *bolt.Tx) (err error) {
		invs, err = s.invitationsFor(tx, kind, ref, seg, effective)
		return err
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.config.Timeout())
	defer cancel()
	kv, err := s.config.Bucket(ctx)
	if err != nil {
		return nil, s.unavailable(err)
	}
	ids := []string{}
	for _, in := range invs {
		val, err := json.Marshal(in.inv)
		if err != nil {
			return nil, err
		}
		key := inviteConfigKey(in.tag)
		rev, err := kv.Put(ctx, key, val)
		if err != nil {
			return nil, s.unavailable(err)
		}
		if err := s.applyConfig(key, val, rev); err != nil {
			return nil, err
		}
		ids = append(ids, in.survey)
	}
	return ids, nil
}

// fetchInvitation applies the invitation under tag from the bucket when this store does not
// have it (triggered on another replica a moment ago). It reports whether it found one.
func (s *Service) fetchInvitation(tag []byte) (bool, error) {
	return s.config.Fetch(inviteConfigKey(tag))
}

// upsertSegmentShared is upsertSegment on a replica. The registry is one for the deployment:
// each segment is a key of the bucket ("segment.<path>", value: the entry as the store keeps
// it), changed by compare and swap, so the versions of an entry follow each other whichever
// replica sets it (two replicas counting versions apart would announce two different
// headcounts under one event id, and the stream would drop the second). The SegmentUpserted
// event is queued by the replica that made the change, in the transaction that stores it.
func (s *Service) upsertSegmentShared(path segment.Path, headcount uint32) (store.Segment, error) {
	if err := s.caughtUp(); err != nil {
		return store.Segment{}, err
	}
	now := s.cfg.Now()
	var rec store.Segment
	var changed bool
	_, err := s.config.Edit("segment."+path.String(), func(cur []byte) (*sharedconf.Change, error) {
		var old store.Segment
		if cur == nil { // an entry of a store that ran alone, not in the bucket yet
			err := s.host.DB.View(func(tx *bolt.Tx) (err error) {
				old, _, err = store.GetSegment(tx, path)
				return err
			})
			if err != nil {
				return nil, err
			}
		} else if err := json.Unmarshal(cur, &old); err != nil {
			return nil, fmt.Errorf("segment %s in %s: %w", path, ConfigBucket, err)
		}
		rec = store.Segment{Headcount: headcount, Version: old.Version, Updated: now}
		if changed = headcount != old.Headcount; changed {
			rec.Version++
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		return &sharedconf.Change{Value: val}, nil
	}, func(tx *bolt.Tx) error {
		if !changed {
			return nil
		}
		return s.unsafeAnnounceSegment(tx, path, rec)
	})
	if err != nil {
		return store.Segment{}, err
	}
	return rec, nil
}
