package release

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestForcedHistoryIsTheRecordedOne replays random histories into fresh trees: the same
// contributions in the same flushes, each recorded release forced at its flush. The replayed
// tree must hold the same releases and cells as the original (so later releases are decided
// on the same state), stay valid, and decide the next flush exactly as the original does.
func TestForcedHistoryIsTheRecordedOne(t *testing.T) {
	const k = 5
	segs := []string{"acme", "acme/a", "acme/b", "acme/c", "acme/a/x", "acme/a/y", "acme/b/z"}
	forced := 0
	for seed := range 200 {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		orig := newSim(k, segs)
		type arrival struct {
			person int
			seg    string
			flush  int
		}
		var arrivals []arrival
		log := map[int][]string{}
		person := 0
		const flushes = 8
		for f := 1; f <= flushes; f++ {
			for range rng.IntN(9) {
				a := arrival{person, segs[rng.IntN(len(segs))], f}
				if person > 0 && rng.IntN(4) == 0 {
					p := rng.IntN(person)
					a = arrival{p, orig.people[p], f}
				} else {
					person++
				}
				orig.contribute(a.person, a.seg, f)
				arrivals = append(arrivals, a)
			}
			if f < flushes { // the last flush is decided by both, below
				log[f] = orig.flush(f)
			}
		}
		replay := newSim(k, segs)
		i := 0
		for f := 1; f < flushes+1; f++ {
			for ; i < len(arrivals) && arrivals[i].flush == f; i++ {
				replay.contribute(arrivals[i].person, arrivals[i].seg, f)
			}
			if f == flushes {
				break
			}
			for _, v := range log[f] {
				if err := replay.t.Force(uint64(f), v); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				forced++
				for seg := range replay.seen {
					if within(seg, v) {
						replay.seen[seg] = nil
					}
				}
				replay.shown = append(replay.shown, shownValue{v, f})
			}
			if !replay.t.Valid() {
				t.Fatalf("seed %d: the forced history of flush %d is not valid", seed, f)
			}
		}
		if got, want := dump(replay.t), dump(orig.t); got != want {
			t.Fatalf("seed %d: replayed state\n%s\nwant\n%s", seed, got, want)
		}
		// Cut on bare nodes, the same contributions, reaches the same state, valid.
		bare := newSim(k, segs)
		i = 0
		for f := 1; f < flushes; f++ {
			for ; i < len(arrivals) && arrivals[i].flush == f; i++ {
				bare.contribute(arrivals[i].person, arrivals[i].seg, f)
			}
			nodes := bare.t.Nodes()
			for _, v := range log[f] {
				if err := Cut(nodes, uint64(f), v); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				for seg := range bare.seen {
					if within(seg, v) {
						bare.seen[seg] = nil
					}
				}
			}
		}
		for ; i < len(arrivals); i++ {
			bare.contribute(arrivals[i].person, arrivals[i].seg, arrivals[i].flush)
		}
		rebuilt := New(k, bare.t.Nodes())
		if got, want := dump(rebuilt), dump(orig.t); got != want || !rebuilt.Valid() {
			t.Fatalf("seed %d: state after Cut (valid %v)\n%s\nwant\n%s", seed, rebuilt.Valid(), got, want)
		}
		want := orig.flushFinal(flushes, true)
		got := replay.flushFinal(flushes, true)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: after the replay the last flush releases %v, the original %v", seed, got, want)
		}
		replay.checkAtoms(t, k)
	}
	if forced < 100 {
		t.Fatalf("only %d forced releases in 200 runs: the histories prove nothing", forced)
	}
}

// TestForceSkipsTheCheckAndValidSeesIt: Force cuts what it is told, even a cut that isolates
// one person, and Valid then says so; it refuses unknown nodes and flushes not after the
// node's last release.
func TestForceSkipsTheCheckAndValidSeesIt(t *testing.T) {
	s := newSim(5, []string{"acme", "acme/a"})
	for p := range 6 {
		s.contribute(p, "acme/a", 1)
	}
	if err := s.t.Force(1, "acme/a"); err != nil || !s.t.Valid() {
		t.Fatalf("Force of six people: %v, valid %v", err, s.t.Valid())
	}
	s.contribute(6, "acme", 2)
	if err := s.t.Force(2, "acme"); err != nil {
		t.Fatal(err)
	}
	if s.t.Valid() {
		t.Fatal("acme forced with one person of its own beside a released team: Valid says true")
	}
	if err := s.t.Force(3, "acme/b"); err == nil {
		t.Fatal("Force of a node not in the tree: no error")
	}
	if err := s.t.Force(1, "acme/a"); err == nil {
		t.Fatal("Force at a flush not after the node's last release: no error")
	}
}

// dump renders the releases and cells of every node.
func dump(t *Tree) string {
	out := ""
	for _, n := range t.Nodes() {
		out += fmt.Sprintf("%s releases %v cells %v\n", n.Path, n.Releases, n.Cells)
	}
	return out
}
