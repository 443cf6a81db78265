package feedback

import (
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/durationpb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
)

// loopStats tells how comments made within prefix are answered. It is hidden unless comments
// can be shown under prefix itself (otherwise its comments are shown above it, and the stats
// would describe a team too small to show), and unless at least MinGroupSize distinct people
// commented in it within one month: people, not comments, and counted with month-scoped tags
// because nothing links a person across months. Times are whole days, as stored.
func (s *Service) loopStats(prefix segment.Path) (*feedbackv1.GetLoopStatsResponse, error) {
	p, err := s.loopParts(prefix, false)
	if err != nil {
		return nil, err
	}
	return s.loopResult(prefix, p), nil
}

// loopParts are what loop statistics are made of, as one store knows them; replicas merge
// them (forward.go).
type loopParts struct {
	// Shown is whether comments can be shown under the prefix itself.
	Shown bool `json:"shown"`
	// People is store.MostPeople of the prefix.
	People   int               `json:"people"`
	ByStatus map[string]uint32 `json:"by_status,omitempty"`
	// ToAck and ToClose are the days each comment took to be acknowledged, closed.
	ToAck   []time.Duration `json:"to_ack,omitempty"`
	ToClose []time.Duration `json:"to_close,omitempty"`
	Total   int             `json:"total"`
	Open    int             `json:"open"`
}

// loopParts reads the parts of prefix's loop statistics in this store. Unless all, it stops
// before the comments when they would be hidden here.
func (s *Service) loopParts(prefix segment.Path, all bool) (loopParts, error) {
	now := s.cfg.Now()
	var p loopParts
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		ok, err := s.displayable(tx, prefix)
		if err != nil || !ok {
			return err
		}
		p.Shown = true
		if p.People, err = store.MostPeople(tx, prefix.String()); err != nil {
			return err
		}
		if !all && !anonymity.MeetsMinimum(p.People, s.cfg.MinGroupSize) {
			return nil
		}
		p.ByStatus = map[string]uint32{}
		for _, st := range []commonv1.FeedbackStatus{statusNew, statusAck, statusInProgress, statusResolved, statusDeclined} {
			p.ByStatus[st.String()] = 0
		}
		dayPrefix := store.DayPrefix(prefix.Org())
		return store.ScanDays(tx, dayPrefix, nil, func(k []byte) (bool, error) {
			_, id, ok := store.SplitDayKey(dayPrefix, k)
			if !ok {
				return true, nil
			}
			c, err := store.GetComment(tx, id)
			if err != nil {
				return false, err
			}
			if !c.AuthorSegment.Within(prefix) {
				return true, nil
			}
			loop, err := store.GetLoop(tx, id)
			if err != nil {
				return false, err
			}
			made := c.CreateDay
			p.Total++
			p.ByStatus[c.Status.String()]++
			if !loop.AckDay.IsZero() {
				p.ToAck = append(p.ToAck, loop.AckDay.Sub(made))
			}
			if !loop.CloseDay.IsZero() {
				p.ToClose = append(p.ToClose, loop.CloseDay.Sub(made))
			}
			if s.openLoop(c.Status, made, now) {
				p.Open++
			}
			return true, nil
		})
	})
	return p, err
}

// loopResult is GetLoopStats' answer from p: hidden unless shown and MinGroupSize people.
func (s *Service) loopResult(prefix segment.Path, p loopParts) *feedbackv1.GetLoopStatsResponse {
	out := &feedbackv1.GetLoopStatsResponse{SegmentPrefix: prefix.String(), Hidden: true}
	if !p.Shown || !anonymity.MeetsMinimum(p.People, s.cfg.MinGroupSize) {
		return out
	}
	out.Hidden = false
	out.ByStatus = p.ByStatus
	out.MedianTimeToAcknowledge = median(p.ToAck)
	out.MedianTimeToResolve = median(p.ToClose)
	if p.Total > 0 {
		out.OpenLoopRate = float64(p.Open) / float64(p.Total)
	}
	return out
}

// openLoop reports whether a comment is past a deadline and not closed: still NEW after the
// acknowledge deadline, or open after the resolve deadline.
func (s *Service) openLoop(st commonv1.FeedbackStatus, made, now time.Time) bool {
	if closed(st) {
		return false
	}
	return (st == statusNew && !now.Before(made.Add(s.cfg.AckDeadline))) || !now.Before(made.Add(s.cfg.ResolveDeadline))
}

// median of ds, nil when there is none.
func median(ds []time.Duration) *durationpb.Duration {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	m := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		m = (ds[len(ds)/2-1] + m) / 2
	}
	return durationpb.New(m)
}
