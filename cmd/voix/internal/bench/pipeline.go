package bench

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
)

// freshness measures how long an acknowledged item takes to show in a released aggregate.
// Every scored item (comment or SCALE answer) acknowledged for a team is appended to the
// team's list; a SentimentUpdated of the team (all dimensions) with count C then includes the
// team's first C items. Items are applied in any order, so the C-th acknowledged item is not
// always one of the C applied: the figure is the delay until the team's count reached the
// item's rank, which is what a reader sees. Only teams already released count ("segments
// already released"): items acknowledged before a team's first release wait for k people, not
// for the pipeline.
//
// afterK is the same delay counted from the later of the item's ack and the ack that gave its
// team k new items since its previous release (k the minimum group size): a release needs at
// least k new people (package release), so until then the item waits for anonymity, not for
// the pipeline. With one person per item (as the load makes them), afterK is an upper bound of
// what the pipeline and the publish interval add.
type freshness struct {
	mu      sync.Mutex
	k       int
	teams   map[string]*teamFresh
	samples []float64 // ms
	afterK  []float64 // ms
	updates int
}

type teamFresh struct {
	acks     []time.Time
	released bool
	// done is how many of acks a release already included.
	done int
}

func newFreshness(k int) *freshness { return &freshness{k: k, teams: map[string]*teamFresh{}} }

func (f *freshness) team(seg string) *teamFresh {
	t := f.teams[seg]
	if t == nil {
		t = &teamFresh{}
		f.teams[seg] = t
	}
	return t
}

// acked records an item of seg acknowledged at t.
func (f *freshness) acked(seg string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tf := f.team(seg)
	tf.acks = append(tf.acks, t)
}

// released records a release of seg that counts count items, seen at t.
func (f *freshness) released(seg string, count int, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	tf := f.team(seg)
	if !tf.released {
		tf.released = true
		tf.done = max(tf.done, min(count, len(tf.acks)))
		return
	}
	upTo := min(count, len(tf.acks))
	if tf.done >= upTo {
		return
	}
	// The k-th new item since the previous release (or the last one this release counts):
	// before its ack, no release could count the items before it.
	kth := tf.acks[min(tf.done+f.k, upTo)-1]
	for ; tf.done < upTo; tf.done++ {
		f.samples = append(f.samples, float64(t.Sub(tf.acks[tf.done]).Microseconds())/1000)
		from := tf.acks[tf.done]
		if kth.After(from) {
			from = kth
		}
		f.afterK = append(f.afterK, float64(t.Sub(from).Microseconds())/1000)
	}
}

// waiting is how many items of released teams no release included yet.
func (f *freshness) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tf := range f.teams {
		if tf.released {
			n += len(tf.acks) - tf.done
		}
	}
	return n
}

func (f *freshness) percentiles() (p50, p99 float64, n int) {
	f.mu.Lock()
	s := slices.Clone(f.samples)
	f.mu.Unlock()
	slices.Sort(s)
	return pctF(s, 50), pctF(s, 99), len(s)
}

// afterKPercentiles are the percentiles of afterK.
func (f *freshness) afterKPercentiles() (p50, p99 float64) {
	f.mu.Lock()
	s := slices.Clone(f.afterK)
	f.mu.Unlock()
	slices.Sort(s)
	return pctF(s, 50), pctF(s, 99)
}

// watchUpdates subscribes to SentimentUpdated as a portal would (core NATS) and feeds f.
func watchUpdates(nc *nats.Conn, f *freshness) (*nats.Subscription, error) {
	return nc.Subscribe(events.SentimentUpdated.All(), func(m *nats.Msg) {
		now := time.Now()
		ev, err := bus.EventFromNATSMsg(m)
		if err != nil {
			return
		}
		var u eventsv1.SentimentUpdated
		if proto.Unmarshal(ev.Data, &u) != nil || u.Aggregate == nil {
			return
		}
		a := u.Aggregate
		if a.Dimension != commonv1.Dimension_DIMENSION_UNSPECIFIED || a.Hidden || a.ScoreHidden {
			return
		}
		f.released(a.Segment, int(a.Count), now)
	})
}

// consumers are the aggregation's durables, whose backlog is the pipeline's lag.
var consumers = []struct {
	stream, durable string
}{
	{events.FeedbackSubmitted.Stream.Name, events.DurableSentimentFeedback},
	{events.PulseResponded.Stream.Name, events.DurableSentimentPulse},
}

// lagSample is the aggregation's backlog and progress at one instant.
type lagSample struct {
	at      time.Time
	lag     int    // pending + unacknowledged, summed over the consumers
	applied uint64 // acknowledged (consumer ack floor), summed
}

func sampleLag(ctx context.Context, js jetstream.JetStream) (lagSample, error) {
	s := lagSample{at: time.Now()}
	for _, c := range consumers {
		cons, err := js.Consumer(ctx, c.stream, c.durable)
		if err != nil {
			return s, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return s, err
		}
		s.lag += int(info.NumPending) + info.NumAckPending
		s.applied += info.AckFloor.Consumer
	}
	return s, nil
}

// lagWatch samples the lag every interval until stopped.
type lagWatch struct {
	mu      sync.Mutex
	samples []lagSample
	stop    chan struct{}
	done    chan struct{}
}

func startLagWatch(ctx context.Context, js jetstream.JetStream, every time.Duration) *lagWatch {
	w := &lagWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if s, err := sampleLag(ctx, js); err == nil {
				w.mu.Lock()
				w.samples = append(w.samples, s)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *lagWatch) halt() []lagSample {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.samples)
}
