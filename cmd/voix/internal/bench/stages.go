package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
)

// stages splits a comment's way to a release into what can be seen from outside: its ack,
// its FeedbackSubmitted on NATS (the feedback relay published it), and its ItemScored (the
// sentiment service applied and scored it, and its own relay published the score). What
// follows, up to the release, is the publish interval and the wait for the team's count to
// reach the comment's rank (freshness). Subscriptions are core NATS, as a portal's: a message
// is seen when the server routes it, which for a JetStream publish is when it is stored.
type stages struct {
	mu             sync.Mutex
	acked          map[string]time.Time // feedback id -> ack
	relay, scored  []float64            // ms after the ack
	early          map[string]time.Time // events seen before the bench recorded the ack
	earlyScoredFor map[string]time.Time
}

func newStages() *stages {
	return &stages{acked: map[string]time.Time{}, early: map[string]time.Time{}, earlyScoredFor: map[string]time.Time{}}
}

// ack records comment id acknowledged at t.
func (s *stages) ack(id string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[id] = t
	// The event can beat the ack's return to the client.
	if at, ok := s.early[id]; ok {
		s.relay = append(s.relay, max(0, float64(at.Sub(t).Microseconds())/1000))
		delete(s.early, id)
	}
	if at, ok := s.earlyScoredFor[id]; ok {
		s.scored = append(s.scored, max(0, float64(at.Sub(t).Microseconds())/1000))
		delete(s.earlyScoredFor, id)
	}
}

func (s *stages) seen(id string, at time.Time, into *[]float64, early map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.acked[id]
	if !ok {
		early[id] = at
		return
	}
	*into = append(*into, float64(at.Sub(t).Microseconds())/1000)
}

// percentiles returns p50 and p99 of ack to relay and of ack to score, in ms.
func (s *stages) percentiles() (relay50, relay99, scored50, scored99 float64) {
	s.mu.Lock()
	r, sc := slices.Clone(s.relay), slices.Clone(s.scored)
	s.mu.Unlock()
	slices.Sort(r)
	slices.Sort(sc)
	return pctF(r, 50), pctF(r, 99), pctF(sc, 50), pctF(sc, 99)
}

// watchStages subscribes to FeedbackSubmitted and ItemScored and feeds s.
func watchStages(nc *nats.Conn, s *stages) ([]*nats.Subscription, error) {
	sub1, err := nc.Subscribe(events.FeedbackSubmitted.All(), func(m *nats.Msg) {
		now := time.Now()
		ev, err := bus.EventFromNATSMsg(m)
		if err != nil {
			return
		}
		var fs eventsv1.FeedbackSubmitted
		if proto.Unmarshal(ev.Data, &fs) != nil {
			return
		}
		s.seen(fs.FeedbackId, now, &s.relay, s.early)
	})
	if err != nil {
		return nil, err
	}
	sub2, err := nc.Subscribe(events.SentimentScored.All(), func(m *nats.Msg) {
		now := time.Now()
		ev, err := bus.EventFromNATSMsg(m)
		if err != nil {
			return
		}
		var it eventsv1.ItemScored
		if proto.Unmarshal(ev.Data, &it) != nil || it.Kind != eventsv1.ItemKind_ITEM_KIND_FEEDBACK {
			return
		}
		s.seen(it.ItemId, now, &s.scored, s.earlyScoredFor)
	})
	if err != nil {
		sub1.Unsubscribe()
		return nil, err
	}
	return []*nats.Subscription{sub1, sub2}, nil
}
