package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
	"github.com/voix-dev/voix/services/platform/events"
)

// The same advisory reaches the run through each node's connection: it is one election.
func TestElectionsCountEachAdvisoryOnce(t *testing.T) {
	e := &elections{seen: map[string]bool{}, last: map[string]time.Time{}}
	stream := &nats.Msg{Subject: "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.FEEDBACK", Data: []byte(`{"id":"a1"}`)}
	consumer := &nats.Msg{Subject: "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.FEEDBACK.sentiment-feedback", Data: []byte(`{"id":"b1"}`)}
	for range 3 {
		e.note(stream)
		e.note(consumer)
	}
	e.note(&nats.Msg{Subject: stream.Subject, Data: []byte(`not json`)})
	if s, c := e.count(); s != 1 || c != 1 {
		t.Fatalf("count = %d streams, %d consumers; want 1 and 1", s, c)
	}
	if _, ok := e.electedAt("FEEDBACK"); !ok {
		t.Fatal("no election time for FEEDBACK")
	}
	if _, ok := e.electedAt("PULSE"); ok {
		t.Fatal("an election time for PULSE, which had none")
	}
}

func TestResultFailsOnLossDuplicateOrReplication(t *testing.T) {
	ok := Result{Result: chaos.Result{Acked: 10}, NATSKills: 1, LeaderChanges: 2}
	if !ok.OK() {
		t.Fatal("a clean result is not OK")
	}
	if want := "e2e-cluster: acked=10 lost=0 duplicated=0 nats_kills=1 leader_changes=2 settle=0.0s"; ok.Line() != want {
		t.Fatalf("Line() = %q, want %q", ok.Line(), want)
	}
	for name, r := range map[string]Result{
		"lost":        {Result: chaos.Result{LostN: 1}},
		"duplicated":  {Result: chaos.Result{DuplicatedN: 1}},
		"replication": {Replication: []string{"stream FEEDBACK: 1 replicas configured, want 3"}},
	} {
		if r.OK() {
			t.Errorf("%s: OK", name)
		}
	}
}

func TestTakeoverMaxNeedsEveryStream(t *testing.T) {
	tk := Takeover{Publish: map[string]time.Duration{}}
	for i, st := range events.Streams() {
		tk.Publish[st.Name] = time.Duration(i+1) * time.Second
	}
	if m, all := tk.Max(); !all || m != time.Duration(len(events.Streams()))*time.Second {
		t.Fatalf("Max() = %v, %v", m, all)
	}
	delete(tk.Publish, events.Feedback.Name)
	if _, all := tk.Max(); all {
		t.Fatal("Max() reports every stream with FEEDBACK missing")
	}
	var b strings.Builder
	Result{Takeover: Takeover{Victim: "n2", Led: []string{"FEEDBACK"}, Publish: tk.Publish}}.Report(&b)
	if !strings.Contains(b.String(), "takeover=incomplete") {
		t.Fatalf("report of an incomplete take-over:\n%s", b.String())
	}
}

func TestRunRefusesADurationShorterThanTheDisruptions(t *testing.T) {
	_, err := Run(context.Background(), Config{BinDir: "bin", Dir: t.TempDir(), Duration: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("Run with 5 s of load: %v", err)
	}
	// The defaults' schedule plus the elections and the service's restart: 25 s of load ended
	// while the killed service was down.
	_, err = Run(context.Background(), Config{BinDir: "bin", Dir: t.TempDir(), Duration: 25 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("Run with 25 s of load: %v", err)
	}
}

// A stream that held nothing at the kill (the load never writes CX) is awaited for its leader
// only: the take-over is complete without a publish on it.
func TestTakeoverMaxSkipsIdleStreams(t *testing.T) {
	tk := Takeover{Publish: map[string]time.Duration{}}
	for i, st := range events.Streams() {
		if i == 0 {
			tk.Idle = append(tk.Idle, st.Name)
			continue
		}
		tk.Publish[st.Name] = time.Duration(i) * time.Second
	}
	if m, all := tk.Max(); !all || m != time.Duration(len(events.Streams())-1)*time.Second {
		t.Fatalf("Max() = %v, %v with %s idle", m, all, tk.Idle[0])
	}
}

func TestPartitionResultFailsOnMissingDoubleOrOverlap(t *testing.T) {
	ok := PartitionResult{Published: 10, Applied: map[string]uint64{"s1": 4, "s2": 10}, Stored: map[string]int{"s1": 4, "s2": 10}, TakenOver: 2, PausedTakenOver: 1, Orgs: 3, InheritedUpdates: 1}
	if !ok.OK() {
		t.Fatalf("a clean phase is not OK: %s", ok.Line())
	}
	missing, double, overlap, none, paused, aggregates, frozen, isolating := ok, ok, ok, ok, ok, ok, ok, ok
	frozen.InheritedUpdates = 0
	isolating.Isolating = []string{"org1/eng/0/2026-W48: 6 and 8 people shown"}
	aggregates.Aggregates = []string{"org1: s2's weekly rollups count 3 items, 4 comments published"}
	missing.Missing = 1
	paused.PausedCommits = 1
	double.Applied = map[string]uint64{"s1": 5, "s2": 10}
	overlap.Overlaps = []string{"partition 1: s1 and s2"}
	none.TakenOver = 0
	for name, r := range map[string]PartitionResult{"missing": missing, "double": double, "overlap": overlap, "no take-over": none, "commit after a pause": paused, "aggregates": aggregates,
		"inherited windows frozen": frozen, "isolating": isolating} {
		if r.OK() {
			t.Errorf("%s: OK (%s)", name, r.Line())
		}
		if (Result{Partitions: &r}).OK() {
			t.Errorf("%s: the run is OK", name)
		}
	}
}

func TestWritesResultFailsOnADoubleOrALoss(t *testing.T) {
	ok := WritesResult{People: 4, Comments: 4, PublishedComments: 4, Responses: 4, PublishedResponses: 4, Refused: 4, FollowUps: 2, Results: []uint32{4, 4}}
	if !ok.OK() {
		t.Fatalf("a clean phase is not OK: %s", ok.Line())
	}
	twoIDs, twoComments, lost, twoResponses, twoAccepted, retryRefused, conflict, empty := ok, ok, ok, ok, ok, ok, ok, WritesResult{}
	twoIDs.Mismatched = 1
	twoComments.PublishedComments = 5
	lost.LostComments = 1
	twoResponses.PublishedResponses = 5
	twoAccepted.Responses = 5
	retryRefused.RetriesRefused = 1
	conflict.Conflicts = 1
	followUpBroken, noFollowUp := ok, ok
	followUpBroken.FollowUpsBroken = 1
	noFollowUp.FollowUps = 0
	resultsShort, noResults := ok, ok
	resultsShort.Results = []uint32{4, 3}
	noResults.Results = nil
	for name, r := range map[string]WritesResult{"two ids": twoIDs, "two comments": twoComments, "lost": lost, "two responses": twoResponses,
		"two answers accepted": twoAccepted, "retry refused": retryRefused, "conflict": conflict, "nothing ran": empty,
		"a follow-up lost between replicas": followUpBroken, "no follow-up tried": noFollowUp,
		"a replica's results miss an answer taken on the other": resultsShort, "results not read": noResults} {
		if r.OK() {
			t.Errorf("%s: OK (%s)", name, r.Line())
		}
		if (Result{Writes: &r}).OK() || (Result{Writes: &r, OnlyWrites: true}).OK() {
			t.Errorf("%s: the run is OK", name)
		}
	}
}
