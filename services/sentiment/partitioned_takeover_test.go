package sentiment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// shown is one published SentimentUpdated of now's week, all dimensions.
type shown struct {
	seg     string
	people  uint32
	version uint64
}

// updatesOf reads every SentimentUpdated of org's segments for now's week (all dimensions),
// in stream order.
func updatesOf(t *testing.T, js jetstream.JetStream, org string) []shown {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.Sentiment.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := events.SentimentUpdated.Prefix + "." + org
	var out []shown
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil || (m.Subject != prefix && !strings.HasPrefix(m.Subject, prefix+".")) {
			continue
		}
		var u eventsv1.SentimentUpdated
		if err := proto.Unmarshal(m.Data, &u); err != nil {
			t.Fatal(err)
		}
		a := u.Aggregate
		if a.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED && a.Window.Key == weekKey(now) {
			out = append(out, shown{seg: a.Segment, people: a.People, version: u.Version})
		}
	}
	return out
}

// TestNewOwnerContinuesTheWindowsItInherits: replica r1 releases a team's week, dies; r2
// takes the partition over, more people arrive in the same week, and r2 releases the week
// with them. Everything shown by either replica, per aggregate, differs from any other value
// shown of it by no one or by at least k people, and nothing shown goes back; r2 does not show
// the team with fewer than k newcomers on top of r1's value (a new owner that knew nothing of
// r1's releases would). r1's store, reopened as r1 after r2 took over, cannot release what it
// held: its log's next record would follow r2's marker.
func TestNewOwnerContinuesTheWindowsItInherits(t *testing.T) {
	env := servicetest.New(t)
	f := producer(t, env)
	k := anonymity.DefaultMinGroupSize
	people := 0
	add := func(seg string, n int) {
		for range n {
			people++
			f.comment(t, fmt.Sprintf("person-%d", people), seg, "the new process is great and I love it")
		}
	}

	r1 := startReplica(t, env, "r1", env.DataDir)
	waitFor(t, "r1 owns every partition", func() bool { return len(r1.Owned()) == testPartitions })
	add("acme/eng", k+1)
	add("acme/ops", k)
	waitFor(t, "r1 applied the comments", func() bool { return appliedBy(t, r1) == uint64(people) })
	if err := r1.Flush(); err != nil {
		t.Fatal(err)
	}
	f.update(t, "acme/eng", commonv1.Dimension_DIMENSION_UNSPECIFIED, uint32(k+1))
	byR1 := len(updatesOf(t, f.js, "acme"))
	if err := r1.Close(); err != nil { // it leaves, and r2 takes acme's partition over
		t.Fatal(err)
	}

	r2 := startReplica(t, env, "r2", copyDeployment(t, env.DataDir))
	waitFor(t, "r2 owns every partition", func() bool { return len(r2.Owned()) == testPartitions })
	// HR, reading r2, sees what r1 released, before any release of r2's.
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, r2.Addr()))
	waitFor(t, "r2 shows acme/eng as r1 released it", func() bool {
		resp, err := client.GetSentiment(env.As(context.Background(), auth.RoleHR),
			&sentimentv1.GetSentimentRequest{Segment: "acme/eng", Dimension: commonv1.Dimension_DIMENSION_UNSPECIFIED})
		return err == nil && !resp.Aggregate.Hidden && resp.Aggregate.People == uint32(k+1)
	})
	if n := len(updatesOf(t, f.js, "acme")); n != byR1 {
		t.Errorf("r2 published %d updates of acme on taking it over; want none before it has something new", n-byR1)
	}
	add("acme/eng", 2) // fewer than k newcomers
	waitFor(t, "r2 applied every comment", func() bool { return appliedBy(t, r2) == uint64(people) })
	if err := r2.Flush(); err != nil {
		t.Fatal(err)
	}
	add("acme/eng", k)
	waitFor(t, "r2 applied every comment", func() bool { return appliedBy(t, r2) == uint64(people) })
	if err := r2.Flush(); err != nil {
		t.Fatal(err)
	}
	f.update(t, "acme/eng", commonv1.Dimension_DIMENSION_UNSPECIFIED, uint32(2*k+3))

	all := updatesOf(t, f.js, "acme")
	if len(all) <= byR1 {
		t.Fatalf("r2 published nothing of acme's week, inherited from r1 (%d updates, all r1's)", len(all))
	}
	bySeg := map[string][]shown{}
	for _, u := range all {
		bySeg[u.seg] = append(bySeg[u.seg], u)
	}
	for seg, us := range bySeg {
		for i, u := range us {
			if i > 0 && (u.version <= us[i-1].version || u.people < us[i-1].people) {
				t.Errorf("%s: published %d people (version %d) after %d (version %d): a value went back", seg, u.people, u.version, us[i-1].people, us[i-1].version)
			}
			for _, v := range us[:i] {
				if d := int(u.people) - int(v.people); d != 0 && (d < k && d > -k) {
					t.Errorf("%s: published %d and %d people: the %d between them are isolated (k=%d)", seg, v.people, u.people, d, k)
				}
			}
		}
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}

	// r1's store again, with r2 gone: r1 takes the partition back with r2's releases, and what
	// it shows next goes on from them.
	r1 = startReplica(t, env, "r1", env.DataDir)
	waitFor(t, "r1 owns every partition again", func() bool { return len(r1.Owned()) == testPartitions })
	add("acme/eng", k)
	waitFor(t, "r1 applied the new comments", func() bool {
		terms, err := r1.OwnerLog()
		if err != nil {
			t.Fatal(err)
		}
		var last uint64
		for _, tm := range terms {
			if tm.Partition == partition.Of("acme", testPartitions) && tm.Last > last {
				last = tm.Last
			}
		}
		msg := f.lastOn(t, events.FeedbackSubmitted, "acme/eng")
		return last >= msg.Sequence
	})
	if err := r1.Flush(); err != nil {
		t.Fatal(err)
	}
	f.update(t, "acme/eng", commonv1.Dimension_DIMENSION_UNSPECIFIED, uint32(3*k+3))
}
