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
	now := s.cfg.Now()
	out := &feedbackv1.GetLoopStatsResponse{SegmentPrefix: prefix.String(), Hidden: true}
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		ok, err := s.displayable(tx, prefix)
		if err != nil || !ok {
			return err
		}
		people, err := store.MostPeople(tx, prefix.String())
		if err != nil || !anonymity.MeetsMinimum(people, s.cfg.MinGroupSize) {
			return err
		}
		byStatus := map[string]uint32{}
		for _, st := range []commonv1.FeedbackStatus{statusNew, statusAck, statusInProgress, statusResolved, statusDeclined} {
			byStatus[st.String()] = 0
		}
		var toAck, toClose []time.Duration
		total, open := 0, 0
		dayPrefix := store.DayPrefix(prefix.Org())
		err = store.ScanDays(tx, dayPrefix, nil, func(k []byte) (bool, error) {
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
			total++
			byStatus[c.Status.String()]++
			if !loop.AckDay.IsZero() {
				toAck = append(toAck, loop.AckDay.Sub(made))
			}
			if !loop.CloseDay.IsZero() {
				toClose = append(toClose, loop.CloseDay.Sub(made))
			}
			if s.openLoop(c.Status, made, now) {
				open++
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		out.Hidden = false
		out.ByStatus = byStatus
		out.MedianTimeToAcknowledge = median(toAck)
		out.MedianTimeToResolve = median(toClose)
		if total > 0 {
			out.OpenLoopRate = float64(open) / float64(total)
		}
		return nil
	})
	return out, err
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
