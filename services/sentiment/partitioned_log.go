package sentiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// Releases across owners (issue 16). A partitioned replica records the releases of each flush
// in its partition's log (partition.Group.Append, in the flush transaction, before it commits),
// and a replica that takes the partition over replays them (partition.Config.Inherit): it
// applies the partition's events up to where the previous owner had applied them when it
// decided, and forces the same releases on the same contributions (release.Cut), as a pinned
// rebuild does (rebuild.go). Its store then holds the previous owner's release history, and
// its own releases are decided by release.Tree on it: every value shown by either owner is a
// sum of atoms of no one or at least k people, and none goes back (a release only adds).
//
// Each forced release is checked: the people and the version (one per contribution) of every
// path must be those the previous owner released, and the tree must be valid; otherwise the
// record is refused and the partition's windows begun before the take-over are frozen, as
// they were before the log existed.

// partPin is one tree's release in a partition log record.
type partPin struct {
	Tree  string   `json:"tree"`
	N     uint64   `json:"n"`
	Paths []string `json:"paths"`
	// People and Versions are the released values', path by path.
	People   []uint32 `json:"people"`
	Versions []uint64 `json:"versions"`
}

// partData is the service's part of a partition log record: the releases of one flush.
type partData struct {
	Pins []partPin `json:"pins"`
}

// partBuffer collects the releases of the flush transaction tx by partition.
type partBuffer struct {
	mu   sync.Mutex
	tx   *bolt.Tx
	pins map[int][]partPin
}

// notePartRelease buffers, for recordPartReleases, that tree tk released paths at flush n in
// tx with the values live. Only the live rollups of a partitioned replica are recorded.
func (s *Service) notePartRelease(tx *bolt.Tx, rb rollup.Buckets, tk treeKey, n uint64, paths []string, live map[string]rollup.Stats) {
	if !s.partitioned() || rb != rollup.Buckets(tx) {
		return
	}
	pin := partPin{Tree: tk.name(), N: n, Paths: slices.Clone(paths)}
	for _, path := range paths {
		pin.People = append(pin.People, live[path].People)
		pin.Versions = append(pin.Versions, live[path].Version)
	}
	p := partition.Of(tk.org, s.cfg.Partitions)
	s.pbuf.mu.Lock()
	defer s.pbuf.mu.Unlock()
	if s.pbuf.tx != tx {
		s.pbuf.tx, s.pbuf.pins = tx, map[int][]partPin{}
	}
	s.pbuf.pins[p] = append(s.pbuf.pins[p], pin)
}

// recordPartReleases appends the releases buffered for tx to their partitions' logs, before
// tx commits: an error (another replica took a partition over, or the log cannot be reached)
// fails the flush, which is tried again without that partition.
func (s *Service) recordPartReleases(tx *bolt.Tx) error {
	s.pbuf.mu.Lock()
	var pins map[int][]partPin
	if s.pbuf.tx == tx {
		pins = s.pbuf.pins
	}
	s.pbuf.tx, s.pbuf.pins = nil, nil
	s.pbuf.mu.Unlock()
	if len(pins) == 0 {
		return nil
	}
	g := s.parts.Load()
	if g == nil {
		return fmt.Errorf("sentiment: releases of %d partitions with no partition group", len(pins))
	}
	ps := make([]int, 0, len(pins))
	for p := range pins {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		for _, chunk := range chunkPins(pins[p]) {
			data, err := json.Marshal(partData{Pins: chunk})
			if err != nil {
				return err
			}
			if err := g.Append(tx, p, data); err != nil {
				return fmt.Errorf("sentiment: releases of partition %d not recorded in its log, so not made: %w", p, err)
			}
		}
	}
	return nil
}

// maxRecord bounds the releases one log record carries, well below NATS's default payload
// limit (1 MB): a flush that releases more appends several records at the same positions.
const maxRecord = 256 << 10

// chunkPins splits pins into runs of at most about maxRecord bytes of JSON (at least one pin
// each).
func chunkPins(pins []partPin) [][]partPin {
	var out [][]partPin
	start, size := 0, 0
	for i, pin := range pins {
		n := len(pin.Tree) + 48*len(pin.Paths) + 96
		for _, path := range pin.Paths {
			n += len(path)
		}
		if i > start && size+n > maxRecord {
			out = append(out, pins[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, pins[start:])
}

// keepInheriting puts the changed aggregates keys of tree tk back for the next flush when its
// partition's new owner is still replaying what it inherited: they are decided once it is done.
func (s *Service) keepInheriting(rb rollup.Buckets, tk treeKey, keys []rollup.Key) error {
	if !s.partitioned() {
		return nil
	}
	g := s.parts.Load()
	if g == nil || !g.Inheriting(tk.org) {
		return nil
	}
	for _, k := range keys {
		if err := rollup.UnsafeMarkDirty(rb, k); err != nil {
			return err
		}
	}
	return nil
}

// errInheritance refuses a record of a previous owner this store does not reproduce.
var errInheritance = errors.New("sentiment: the previous owner's release is not reproduced here")

// inheritReleases is partition.Config.Inherit: it forces, in tx, the releases a previous owner
// of partition p recorded, after the partition's events up to the record's positions were
// applied.
func (s *Service) inheritReleases(tx *bolt.Tx, p int, rec partition.Record) error {
	var d partData
	if len(rec.Data) > 0 {
		if err := json.Unmarshal(rec.Data, &d); err != nil {
			return fmt.Errorf("%w: record of %s: %v", errInheritance, rec.Replica, err)
		}
	}
	if err := s.flushWriter(tx); err != nil {
		return err
	}
	var shown []releasedCell
	for _, pin := range d.Pins {
		cells, err := s.forceInherited(tx, pin)
		if err != nil {
			return err
		}
		shown = append(shown, cells...)
		if err := s.notePin(tx, tx, pin.Tree, pin.N, pin.Paths); err != nil { // the local log (releaselog.go)
			return err
		}
	}
	for _, pin := range d.Pins {
		if err := s.checkInherited(tx, pin.Tree); err != nil {
			return err
		}
	}
	byWin := map[string][]releasedCell{}
	for _, c := range shown {
		byWin[c.key.Window] = append(byWin[c.key.Window], c)
	}
	tx.OnCommit(func() {
		for win, rel := range byWin {
			s.reads.released(win, rel, s.cfg.MinGroupSize)
		}
	})
	return nil
}

// forceInherited makes in tx the release pin a previous owner decided (forceRelease's cut on
// the live rollups), and checks that the released values are the ones it released. It returns
// the values now shown.
func (s *Service) forceInherited(tx *bolt.Tx, pin partPin) ([]releasedCell, error) {
	tk, ok := parseTreeName(pin.Tree)
	if !ok || len(pin.People) != len(pin.Paths) || len(pin.Versions) != len(pin.Paths) {
		return nil, fmt.Errorf("%w: a malformed release of tree %q", errInheritance, pin.Tree)
	}
	var (
		nodes []*release.Node
		keys  = map[string]rollup.Key{}
	)
	for _, path := range pin.Paths {
		top, err := segment.Parse(path)
		if err != nil {
			return nil, fmt.Errorf("%w: segment %q: %v", errInheritance, path, err)
		}
		segs, err := rollup.Segments(tx, top)
		if err != nil {
			return nil, err
		}
		for _, seg := range segs {
			key := rollup.Key{Segment: seg.String(), Dimension: tk.dim, Window: tk.win}
			if _, dup := keys[key.Segment]; dup {
				continue
			}
			cells, err := rollup.Cells(tx, key)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, &release.Node{Path: key.Segment, Parent: parentID(seg), Releases: rollup.Releases(tx, key), Cells: cells})
			keys[key.Segment] = key
		}
	}
	live := make([]rollup.Stats, len(pin.Paths))
	for i, path := range pin.Paths {
		cur, err := rollup.Get(tx, keys[path])
		if err != nil {
			return nil, err
		}
		if cur.People != pin.People[i] || cur.Version != pin.Versions[i] {
			return nil, fmt.Errorf("%w: %s/%d/%s at flush %d: %d people (version %d) here, %d (version %d) released",
				errInheritance, path, tk.dim, tk.win, pin.N, cur.People, cur.Version, pin.People[i], pin.Versions[i])
		}
		live[i] = cur
	}
	for _, path := range pin.Paths {
		if err := release.Cut(nodes, pin.N, path); err != nil {
			return nil, fmt.Errorf("%w: %v", errInheritance, err)
		}
	}
	if err := rollup.UnsafeSetFlushes(tx, pin.Tree, pin.N); err != nil {
		return nil, err
	}
	for _, node := range nodes {
		if c := node.Cells; len(c) > 0 && c[len(c)-1].End == pin.N {
			if err := rollup.UnsafePutCells(tx, keys[node.Path], c); err != nil {
				return nil, err
			}
			if err := rollup.UnsafeCloseOpen(tx, keys[node.Path]); err != nil {
				return nil, err
			}
		}
	}
	out := make([]releasedCell, 0, len(pin.Paths))
	for i, path := range pin.Paths {
		if err := rollup.UnsafeAddRelease(tx, keys[path], pin.N); err != nil {
			return nil, err
		}
		if err := rollup.UnsafeRelease(tx, keys[path], live[i]); err != nil {
			return nil, err
		}
		out = append(out, releasedCell{key: keys[path], st: live[i]})
	}
	return out, nil
}

// checkInherited checks the whole tree after forced releases (release.Tree.Valid): the
// history it now holds isolates no group of 1..k-1 people.
func (s *Service) checkInherited(tx *bolt.Tx, tree string) error {
	tk, ok := parseTreeName(tree)
	if !ok {
		return fmt.Errorf("%w: tree %q", errInheritance, tree)
	}
	org, err := segment.Parse(tk.org)
	if err != nil {
		return fmt.Errorf("%w: %v", errInheritance, err)
	}
	segs, err := rollup.Segments(tx, org)
	if err != nil {
		return err
	}
	var nodes []*release.Node
	for _, seg := range segs {
		key := rollup.Key{Segment: seg.String(), Dimension: tk.dim, Window: tk.win}
		cur, err := rollup.Get(tx, key)
		if err != nil {
			return err
		}
		if cur.People == 0 && cur.Count == 0 {
			continue
		}
		cells, err := rollup.Cells(tx, key)
		if err != nil {
			return err
		}
		nodes = append(nodes, &release.Node{Path: key.Segment, Parent: parentID(seg), Releases: rollup.Releases(tx, key), Cells: cells})
	}
	if !release.New(s.cfg.MinGroupSize, nodes).Valid() {
		return fmt.Errorf("%w: %s/%d/%s would isolate fewer than k people", errInheritance, tk.org, tk.dim, tk.win)
	}
	return nil
}
