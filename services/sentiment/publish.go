package sentiment

import (
	"cmp"
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
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

// flush releases the aggregates the consumers changed since the last flush, where the rules
// allow, and queues a SentimentUpdated for each release of the published window length.
//
// A candidate is an aggregate with at least k people who are new since its last release (all
// its people, before the first). Candidates are tried one by one on their whole tree, where
// every released value is pinned (readers know it, so it cannot be hidden any more): a
// candidate is released only if suppress.Check still finds every region empty or of k people.
// Otherwise it waits, as live data, for the change that makes it safe. Taking the changes,
// releasing, queueing the events and recording the versions is one transaction, so a crash
// releases each version once or not yet.
func (s *Service) flush() (int, error) {
	queued := 0
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		var err error
		queued, _, err = s.unsafeFlush(tx, tx, maxDirtyPerFlush)
		return err
	})
	return queued, err
}

// unsafeFlush releases the trees of up to limit changed aggregates in tx. It returns the
// updates queued and how many changes it took: fewer than limit means none are left.
func (s *Service) unsafeFlush(tx *bolt.Tx, rb rollup.Buckets, limit int) (queued, taken int, err error) {
	keys, err := rollup.UnsafeTakeDirty(rb, limit)
	if err != nil {
		return 0, 0, err
	}
	trees := map[treeKey]bool{}
	for _, k := range keys {
		seg, err := segment.Parse(k.Segment)
		if err != nil { // not a segment this service writes (aggregate parses every tag's)
			s.host.Log.Warn("publisher skips an aggregate of a malformed segment", "segment", k.Segment, "err", err)
			continue
		}
		trees[treeKey{org: seg.Org(), dim: k.Dimension, win: k.Window}] = true
	}
	for _, tk := range sortedTrees(trees) {
		n, err := s.releaseTree(tx, rb, tk)
		if err != nil {
			return queued, len(keys), err
		}
		queued += n
	}
	return queued, len(keys), nil
}

// releaseTree releases one tree (an organisation, dimension and window) as a whole, or not
// at all, and returns how many updates it queued. All of its aggregates move from one release
// to the next together, so what a reader can combine is the releases themselves and the
// changes between two of them. Both must pass the hiding rules:
//
//   - the new values: every aggregate already released stays shown (suppress.Check with
//     them pinned), the others are shown where the rules allow;
//   - the change since the last release: on the same tree, with each aggregate counting the
//     distinct people who contributed since then (Stats.Pending), every shown aggregate's
//     change and every region of changes holds no one or at least k people. Otherwise a
//     reader comparing two releases would learn what the few people in between said.
//
// When either fails, nothing moves: the tree waits, as live data, for the contributions that
// make it safe.
func (s *Service) releaseTree(tx *bolt.Tx, rb rollup.Buckets, tk treeKey) (int, error) {
	w, err := anonymity.ParseContributorWindow(tk.win)
	if err != nil {
		return 0, nil // not a window this service writes: nothing to release
	}
	org, err := segment.Parse(tk.org)
	if err != nil {
		return 0, err
	}
	segs, err := rollup.Segments(rb, org)
	if err != nil {
		return 0, err
	}
	k := s.cfg.MinGroupSize
	var (
		keys    []rollup.Key
		live    []rollup.Stats
		values  []suppress.Node // the new values
		changes []suppress.Node // the change since the last release
	)
	for _, seg := range segs {
		key := rollup.Key{Segment: seg.String(), Dimension: tk.dim, Window: tk.win}
		cur, err := rollup.Get(rb, key)
		if err != nil {
			return 0, err
		}
		if cur.People == 0 && cur.Count == 0 {
			continue
		}
		_, released, err := rollup.Released(rb, key)
		if err != nil {
			return 0, err
		}
		keys, live = append(keys, key), append(live, cur)
		values = append(values, suppress.Node{ID: key.Segment, Parent: parentID(seg), People: int(cur.People), Pinned: released})
		changes = append(changes, suppress.Node{ID: key.Segment, Parent: parentID(seg), People: int(cur.Pending)})
	}
	hidden, ok := suppress.Check(values, k)
	if !ok {
		return 0, nil
	}
	shown := make([]bool, len(values))
	for i, n := range values {
		shown[i] = n.People >= k && !hidden[n.ID]
		changes[i].Pinned = shown[i]
	}
	if _, ok := suppress.Check(changes, k); !ok {
		return 0, nil
	}
	queued := 0
	for i, key := range keys {
		cur := live[i]
		if !shown[i] {
			if err := rollup.UnsafeResetPending(rb, key, cur); err != nil {
				return queued, err
			}
			continue
		}
		if cur.Pending == 0 {
			continue // unchanged since its last release
		}
		if err := rollup.UnsafeRelease(rb, key, cur); err != nil {
			return queued, err
		}
		if s.publish[w.Granularity] {
			if err := s.queueUpdate(tx, key, cur); err != nil {
				return queued, err
			}
			queued++
		}
		if w.Granularity == window.Week && tk.win == anonymity.ContributorWindow(window.Of(window.Week, s.cfg.Now())) {
			if err := s.evaluateAlerts(tx, rb, key, w, cur); err != nil {
				return queued, err
			}
		}
	}
	return queued, nil
}

// queueUpdate puts one SentimentUpdated in the outbox. The event id carries the version, so a
// retried publication dedups in JetStream.
func (s *Service) queueUpdate(tx *bolt.Tx, k rollup.Key, st rollup.Stats) error {
	w, err := anonymity.ParseContributorWindow(k.Window)
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
		ID:      events.UpdatedID(k.Segment, k.Dimension, k.Window, st.Version),
		Type:    events.SentimentUpdated.Type,
		Source:  events.SentimentUpdated.Source,
		Subject: events.SentimentUpdated.Subject(seg),
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

// parentID is the suppress.Node id of seg's parent: its path, or "" for an organisation.
func parentID(seg segment.Path) string {
	if p, ok := seg.Parent(); ok {
		return p.String()
	}
	return ""
}
