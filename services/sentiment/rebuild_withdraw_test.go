package sentiment_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// TestRebuildNeverWithdraws: people trickle into an open week over several flushes, so what
// the live store released depends on when each flush came. A rebuild then replays the same
// events. Every value shown before must still be shown after it, with the same numbers (or a
// later release that includes them), and nothing shown before or after, together, may
// isolate fewer than k people. Before the release log, the rebuild released everything at
// once: acme/eng and acme lost the values the portals had (their newer people wait for
// acme/eng/platform), and acme/sales showed 7 people after showing 5, isolating the 2 new.
func TestRebuildNeverWithdraws(t *testing.T) {
	const k = 5 // the default minimum group size
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	dims := []commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED, wl}
	segs := []string{"acme", "acme/eng", "acme/eng/platform", "acme/eng/data", "acme/sales"}
	// Who arrives before each flush: segment → new people.
	flushes := []map[string]int{
		{"acme/eng": 5, "acme/sales": 5},
		{"acme/eng/platform": 3, "acme/sales": 2},
		{"acme/eng/platform": 1, "acme/eng/data": 5},
	}
	type contribution struct {
		person string
		seg    string
		flush  int
	}
	var contribs []contribution
	// people returns the distinct people of seg's subtree up to flush n.
	people := func(seg string, n int) int {
		c := 0
		for _, x := range contribs {
			if x.flush <= n && within(x.seg, seg) {
				c++ // every person contributes once
			}
		}
		return c
	}
	type shownValue struct {
		seg   string
		dim   commonv1.Dimension
		flush int // the value is the subtree's contributions up to this flush
		text  string
		ppl   uint32
	}
	var shown []shownValue
	last := map[string]shownValue{} // seg/dim → the latest shown before the rebuild
	observe := func(upTo int, before bool) map[string]shownValue {
		t.Helper()
		now := map[string]shownValue{}
		for _, seg := range segs {
			for _, d := range dims {
				a := f.get(t, seg, d)
				if a.Hidden {
					continue
				}
				// The prefix of the history this value is: the latest flush whose subtree
				// count it shows (people only arrive, each once).
				at := 0
				for n := upTo; n >= 1; n-- {
					if people(seg, n) == int(a.People) {
						at = n
						break
					}
				}
				if at == 0 {
					t.Fatalf("%s/%v shows %d people, which no prefix of the history has", seg, d, a.People)
				}
				v := shownValue{seg, d, at, prototext.Format(a), a.People}
				now[fmt.Sprint(seg, "/", d)] = v
				shown = append(shown, v)
				if before {
					last[fmt.Sprint(seg, "/", d)] = v
				}
			}
		}
		return now
	}
	sent := 0
	for i, arrivals := range flushes {
		n := i + 1
		for _, seg := range segs {
			for j := range arrivals[seg] {
				ref := fmt.Sprintf("%s#%d@%d", seg, j, n)
				f.answer(t, ref, seg, now, wl, int32(1+(sent%5)))
				contribs = append(contribs, contribution{ref, seg, n})
				sent++
			}
		}
		f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
		observe(n, true)
	}
	if len(last) < 6 {
		t.Fatalf("only %d values shown before the rebuild: the scenario proves nothing", len(last))
	}
	if _, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	after := observe(len(flushes), false)
	for key, was := range last {
		got, ok := after[key]
		switch {
		case !ok:
			t.Errorf("%s was shown before the rebuild (%d people) and is withdrawn after it", key, was.ppl)
		case got.text != was.text && got.flush <= was.flush:
			t.Errorf("%s changed across the rebuild without new people:\n--- before\n%s--- after\n%s", key, was.text, got.text)
		}
	}
	// The leak proof on everything ever shown: contributions that belong to exactly the same
	// shown values form an atom; each must hold no one or at least k people.
	atoms := map[string][]string{}
	for _, c := range contribs {
		var sig []string
		for _, v := range shown {
			if c.flush <= v.flush && within(c.seg, v.seg) {
				sig = append(sig, fmt.Sprintf("%s@%d", v.seg, v.flush))
			}
		}
		if len(sig) == 0 {
			continue
		}
		slices.Sort(sig)
		key := strings.Join(slices.Compact(sig), ",")
		atoms[key] = append(atoms[key], c.person)
	}
	for sig, who := range atoms {
		if len(who) < k {
			t.Errorf("%d people %v are isolable from the values shown before and after the rebuild (they are in exactly %s)", len(who), who, sig)
		}
	}
}

// within reports whether seg is v or below it.
func within(seg, v string) bool { return seg == v || strings.HasPrefix(seg, v+"/") }

// TestRebuildRefusesWhenAShownEventIsGone: an event that counts in a value already shown was
// deleted from the stream (a purge, not the retention: later events remain). Replaying the
// rest would show the value without it, and the difference would be its author, so the
// rebuild is refused and the store stays as it was. Before, the rebuild went ahead and
// withdrew acme/sales (four people left of the five shown).
func TestRebuildRefusesWhenAShownEventIsGone(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 5, now, wl, 4, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := f.get(t, "acme/sales", wl); got.Hidden || got.People != 5 {
		t.Fatalf("acme/sales = %+v, want 5 people shown", got)
	}
	before := f.snapshot(t)
	st, err := f.js.Stream(context.Background(), events.Pulse.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.HasPrefix(status.Convert(err).Message(), "history: ") {
		t.Fatalf("RebuildRollups with a shown event deleted = %v, want FailedPrecondition starting with history: ", err)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("a refused rebuild changed the store:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestRebuildWithoutTheReleaseLogStartsOne: a store written before the release log (or whose
// log was lost) cannot say which contributions its releases included, so its rebuild decides
// releases from scratch and says so (pinned false); the rebuilt store logs its releases, so
// the next rebuild keeps them.
func TestRebuildWithoutTheReleaseLogStartsOne(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 6, now, wl, 4, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if err := f.svc.ForgetReleaseLog(); err != nil {
		t.Fatal(err)
	}
	admin := f.env.As(context.Background(), auth.RoleAdmin)
	resp, err := f.client.RebuildRollups(admin, &sentimentv1.RebuildRollupsRequest{})
	if err != nil {
		t.Fatalf("RebuildRollups without a log: %v", err)
	}
	st, err := f.client.GetRebuildStatus(admin, &sentimentv1.GetRebuildStatusRequest{})
	if err != nil {
		t.Fatalf("GetRebuildStatus: %v", err)
	}
	if resp.ReleasesKept || st.ReleasesKept {
		t.Fatalf("a rebuild without a release log says it kept the store's releases (answer %v, status %v)", resp.ReleasesKept, st.ReleasesKept)
	}
	n += len(f.group(t, "acme/sales", 2, now, wl, 5))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	before := f.snapshot(t)
	resp, err = f.client.RebuildRollups(admin, &sentimentv1.RebuildRollupsRequest{})
	if err != nil {
		t.Fatalf("second RebuildRollups: %v", err)
	}
	if st, err = f.client.GetRebuildStatus(admin, &sentimentv1.GetRebuildStatusRequest{}); err != nil {
		t.Fatalf("GetRebuildStatus: %v", err)
	}
	if !resp.ReleasesKept || !st.ReleasesKept {
		t.Fatalf("the rebuilt store's rebuild did not keep its releases (answer %v, status %v): the first rebuild left no complete log", resp.ReleasesKept, st.ReleasesKept)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("the pinned rebuild changed what readers see:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
