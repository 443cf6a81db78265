package sentiment

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/metrics"
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

// name is the tree's key in the store: organisation, dimension and window.
func (tk treeKey) name() string {
	return tk.org + "\x00" + strconv.Itoa(int(tk.dim)) + "\x00" + tk.win
}

// parseTreeName is the inverse of treeKey.name.
func parseTreeName(s string) (treeKey, bool) {
	parts := strings.Split(s, "\x00")
	if len(parts) != 3 {
		return treeKey{}, false
	}
	dim, err := strconv.Atoi(parts[1])
	if err != nil {
		return treeKey{}, false
	}
	return treeKey{org: parts[0], dim: int32(dim), win: parts[2]}, true
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
// Each changed tree, and each tree whose window ended while people waited in it, is decided
// by releaseTree. Taking the changes, releasing, queueing the events and recording the
// versions is one transaction, so a crash releases each version once or not yet.
func (s *Service) flush() (int, error) {
	if s.gate.Load() {
		return 0, nil // a rebuild is swapping in: the next tick (rebuild.go)
	}
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
	byTree := map[treeKey][]rollup.Key{} // for keepInheriting (partitioned_log.go)
	for _, k := range keys {
		seg, err := segment.Parse(k.Segment)
		if err != nil { // not a segment this service writes (aggregate parses every tag's)
			s.host.Log.Warn("publisher skips an aggregate of a malformed segment", "segment", k.Segment, "err", err)
			continue
		}
		tk := treeKey{org: seg.Org(), dim: k.Dimension, win: k.Window}
		trees[tk], byTree[tk] = true, append(byTree[tk], k)
	}
	// Trees whose window is over while people wait in them get their last flush.
	for _, name := range rollup.DueWaiting(rb, s.cfg.Now()) {
		if tk, ok := parseTreeName(name); ok {
			trees[tk] = true
		}
	}
	for _, tk := range sortedTrees(trees) {
		if !s.mayRelease(tk.org, tk.win) { // another replica's organisation, or window (partitioned.go)
			if err := s.keepInheriting(rb, tk, byTree[tk]); err != nil {
				return queued, len(keys), err
			}
			continue
		}
		n, err := s.releaseTree(tx, rb, tk)
		if err != nil {
			return queued, len(keys), err
		}
		queued += n
	}
	if err := s.recordPartReleases(tx); err != nil { // before the commit (partitioned_log.go)
		return queued, len(keys), err
	}
	return queued, len(keys), s.unsafeSeal(rb)
}

// sealChunk bounds the contributors one flush forgets.
const sealChunk = 20_000

// unsafeSeal forgets the contributors of the windows over by rollup.SealAfter that no event
// counted in for as long: their last release was decided at their end (rollup_waiting), so no
// release needs them, and their aggregates keep their counts. A window still receiving events
// (a backfill, a consumer catching up) stays open. A window with many contributors takes
// several flushes.
func (s *Service) unsafeSeal(rb rollup.Buckets) error {
	now := s.cfg.Now()
	budget := sealChunk
	for _, win := range rollup.OpenWindows(rb) {
		w, err := anonymity.ParseContributorWindow(win.Name)
		if err != nil || now.Before(w.End.Add(rollup.SealAfter)) || now.Before(win.LastDay.Add(rollup.SealAfter)) {
			continue
		}
		if err := s.sealing(rb, win.Name); err != nil {
			return err
		}
		done, err := rollup.UnsafeSeal(rb, win.Name, budget)
		if err != nil {
			return err
		}
		if !done {
			return nil // the rest at the next flush
		}
	}
	return nil
}

// releaseTree decides, node by node, which aggregates of one tree (an organisation, dimension
// and window) show their new values at this flush, with package release: every shown value,
// now and before, is a sum of atoms of no one or at least k people, so no combination of them
// isolates a smaller group. A team with k new people shows them even when its department
// cannot; a node that cannot advance keeps showing its previous release. Until the window is
// over, a node does not take in its teams' people that no release of theirs includes yet (it
// waits for them); once it is over, everything that may be shown is. It returns how many
// updates it queued.
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
	var (
		nodes []*release.Node
		keys  = map[string]rollup.Key{}
		live  = map[string]rollup.Stats{}
		cands []string
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
		cells, err := rollup.Cells(rb, key)
		if err != nil {
			return 0, err
		}
		nodes = append(nodes, &release.Node{Path: key.Segment, Parent: parentID(seg), Releases: rollup.Releases(rb, key), Cells: cells})
		keys[key.Segment], live[key.Segment] = key, cur
		// Only a node with contributions since its last release can release (Tree.Pending
		// implies cur.Pending > 0: every contribution below it carries its tag), so the others
		// are not tried.
		if cur.Pending > 0 {
			cands = append(cands, key.Segment)
		}
	}
	tree := release.New(s.cfg.MinGroupSize, nodes)
	name := tk.name()
	n := rollup.Flushes(rb, name) + 1
	final := !s.cfg.Now().Before(w.End)
	released := tree.Release(n, cands, final)
	waiting := false
	for _, path := range cands {
		waiting = waiting || tree.Pending(path)
	}
	if waiting && !final {
		if err := rollup.UnsafeSetWaiting(rb, name, w.End); err != nil {
			return 0, err
		}
	} else if err := rollup.UnsafeClearWaiting(rb, name); err != nil {
		return 0, err
	}
	if len(released) == 0 {
		return 0, nil
	}
	if err := rollup.UnsafeSetFlushes(rb, name, n); err != nil {
		return 0, err
	}
	if err := s.notePin(tx, rb, name, n, released); err != nil { // for rebuilds (releaselog.go)
		return 0, err
	}
	s.notePartRelease(tx, rb, tk, n, released, live) // for the next owner (partitioned_log.go)
	// Cells the releases closed: store them, and forget their tags.
	for _, node := range tree.Nodes() {
		if c := node.Cells; len(c) > 0 && c[len(c)-1].End == n {
			if err := rollup.UnsafePutCells(rb, keys[node.Path], c); err != nil {
				return 0, err
			}
			if err := rollup.UnsafeCloseOpen(rb, keys[node.Path]); err != nil {
				return 0, err
			}
		}
	}
	if rb == rollup.Buckets(tx) { // the live rollups, not a rebuild's staging
		nrel := len(released)
		rel := make([]releasedCell, 0, nrel) // what readers see once it commits
		for _, path := range released {
			rel = append(rel, releasedCell{key: keys[path], st: live[path]})
		}
		tx.OnCommit(func() { s.reads.released(tk.win, rel, s.cfg.MinGroupSize); s.host.Count(metrics.Releases, nrel) })
	}
	queued := 0
	for _, path := range released {
		key, cur := keys[path], live[path]
		if err := rollup.UnsafeAddRelease(rb, key, n); err != nil {
			return queued, err
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
		Aggregate: aggregateProto(k, w, st, false, s.cfg.MinGroupSize),
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
