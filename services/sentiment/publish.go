package sentiment

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// DefaultPublishInterval is how often changed aggregates are published: at most one
// SentimentUpdated per aggregate per interval, however fast events arrive.
const DefaultPublishInterval = time.Second

// maxDirtyPerFlush bounds one flush transaction; the rest waits for the next tick.
const maxDirtyPerFlush = 10_000

// treeKey names the tree of one organisation, dimension and window: the unit the hiding rules
// decide on together.
type treeKey struct {
	org string
	dim int32
	win string
}

// publishLoop flushes the changed aggregates every PublishInterval until ctx is done.
func (s *Service) publishLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.PublishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.flush(); err != nil {
			s.host.Log.Error("publish sentiment updates", "err", err)
		}
	}
}

// flush queues a SentimentUpdated for every aggregate that may be shown and changed since it
// was last published, in the trees the consumers touched since the last flush. The whole tree
// is looked at, not only the changed aggregate, because a change can unhide a sibling. Taking
// the changes, queueing the events and recording what was published is one transaction, so a
// crash publishes each version once or not yet.
func (s *Service) flush() (int, error) {
	queued := 0
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		queued = 0
		keys, err := rollup.UnsafeTakeDirty(tx, maxDirtyPerFlush)
		if err != nil {
			return err
		}
		trees := map[treeKey]bool{}
		weekly := map[treeKey][]string{} // changed segments of weekly trees, for alerts
		for _, k := range keys {
			w, err := parseTagWindow(k.Window)
			if err != nil {
				continue
			}
			tk := treeKey{org: orgOf(k.Segment), dim: k.Dimension, win: k.Window}
			if s.publish[w.Granularity] {
				trees[tk] = true
			}
			if w.Granularity == window.Week {
				weekly[tk] = append(weekly[tk], k.Segment)
			}
		}
		if err := s.flushAlerts(tx, weekly); err != nil {
			return err
		}
		for _, tk := range sortedTrees(trees) {
			v, err := s.viewTree(tx, tk.org, tk.dim, tk.win)
			if err != nil {
				return err
			}
			segs := make([]string, 0, len(v.stats))
			for seg := range v.stats {
				segs = append(segs, seg)
			}
			slices.Sort(segs)
			for _, seg := range segs {
				st, shown := v.shown(seg)
				k := rollup.Key{Segment: seg, Dimension: tk.dim, Window: tk.win}
				if !shown || rollup.Published(tx, k) == st.Version {
					continue
				}
				if err := s.queueUpdate(tx, k, st); err != nil {
					return err
				}
				if err := rollup.UnsafeSetPublished(tx, k, st.Version); err != nil {
					return err
				}
				queued++
			}
		}
		return nil
	})
	return queued, err
}

// flushAlerts evaluates the alert rule for the changed weekly aggregates that may be shown:
// an alert carries numbers, so it obeys the same hiding rules as an update.
func (s *Service) flushAlerts(tx *bolt.Tx, weekly map[treeKey][]string) error {
	// Only the current week: a rebuild marks every past week changed, and a drop found in a
	// week long gone is not news.
	current := tagWindow(window.Of(window.Week, s.cfg.Now()))
	trees := map[treeKey]bool{}
	for tk := range weekly {
		if tk.win == current {
			trees[tk] = true
		}
	}
	for _, tk := range sortedTrees(trees) {
		v, err := s.viewTree(tx, tk.org, tk.dim, tk.win)
		if err != nil {
			return err
		}
		w, err := parseTagWindow(tk.win)
		if err != nil {
			return err
		}
		segs := weekly[tk]
		slices.Sort(segs)
		for _, seg := range slices.Compact(segs) {
			if st, shown := v.shown(seg); shown {
				if err := s.evaluateAlerts(tx, rollup.Key{Segment: seg, Dimension: tk.dim, Window: tk.win}, w, st); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// queueUpdate puts one SentimentUpdated in the outbox. The event id carries the version, so a
// retried publication dedups in JetStream.
func (s *Service) queueUpdate(tx *bolt.Tx, k rollup.Key, st rollup.Stats) error {
	w, err := parseTagWindow(k.Window)
	if err != nil {
		return err
	}
	seg, err := segment.Parse(k.Segment)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(&eventsv1.SentimentUpdated{
		Aggregate: aggregateProto(k, w, st, false),
		Version:   st.Version,
	})
	if err != nil {
		return err
	}
	return s.host.Outbox.Add(tx, bus.Event{
		ID:      fmt.Sprintf("sentiment.updated/%s/%d/%s/%d", k.Segment, k.Dimension, k.Window, st.Version),
		Type:    "voix.sentiment.updated.v1",
		Source:  eventSource,
		Subject: "voix.sentiment.updated." + seg.Subject(),
		Time:    s.cfg.Now(),
		Data:    data,
	})
}

func sortedTrees(m map[treeKey]bool) []treeKey {
	out := make([]treeKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b treeKey) int {
		return cmp.Or(cmp.Compare(a.org, b.org), cmp.Compare(a.dim, b.dim), cmp.Compare(a.win, b.win))
	})
	return out
}

// orgOf is the first element of a segment path.
func orgOf(seg string) string {
	for i := 0; i < len(seg); i++ {
		if seg[i] == '/' {
			return seg[:i]
		}
	}
	return seg
}
