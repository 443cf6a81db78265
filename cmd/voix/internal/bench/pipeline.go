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

// downstream are feedback's consumers of the aggregation's output: the scores that label and
// route comments, and the routes that tell the owners. They are the pipeline too (a comment
// is acted on once routed and its owners told), so the bench watches their backlog as well.
// Against a --target with feedback replicas their durables carry the replica's name and are
// not found: then they are left out.
var downstream = []struct {
	stream, durable string
}{
	{events.SentimentScored.Stream.Name, events.DurableFeedbackScored},
	{events.Feedback.Name, events.DurableFeedbackNotify},
}

// lagSample is the aggregation's backlog and progress at one instant.
type lagSample struct {
	at      time.Time
	lag     int    // pending + unacknowledged, summed over the consumers
	applied uint64 // acknowledged (consumer ack floor), summed
	down    []int  // each downstream consumer's pending + unacknowledged, -1 when not found
}

func sampleLag(ctx context.Context, js jetstream.JetStream) (lagSample, error) {
	s := lagSample{at: time.Now()}
	for _, c := range consumers {
		info, err := consumerInfo(ctx, js, c.stream, c.durable)
		if err != nil {
			return s, err
		}
		s.lag += int(info.NumPending) + info.NumAckPending
		s.applied += info.AckFloor.Consumer
	}
	for _, c := range downstream {
		backlog := -1
		if info, err := consumerInfo(ctx, js, c.stream, c.durable); err == nil {
			backlog = int(info.NumPending) + info.NumAckPending
		}
		s.down = append(s.down, backlog)
	}
	return s, nil
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, durable string) (*jetstream.ConsumerInfo, error) {
	cons, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// downstreamFigures is, per downstream consumer, the largest backlog seen and the seconds
// from the end of the load until its backlog was first empty (-1: not empty in the samples).
func downstreamFigures(samples []lagSample, end time.Time) (lagMax map[string]int, drained map[string]float64) {
	lagMax, drained = map[string]int{}, map[string]float64{}
	for i, c := range downstream {
		seen := false
		drained[c.durable] = -1
		for _, s := range samples {
			if i >= len(s.down) || s.down[i] < 0 {
				continue
			}
			seen = true
			lagMax[c.durable] = max(lagMax[c.durable], s.down[i])
			if drained[c.durable] < 0 && !s.at.Before(end) && s.down[i] == 0 {
				drained[c.durable] = s.at.Sub(end).Seconds()
			}
		}
		if !seen {
			delete(lagMax, c.durable)
			delete(drained, c.durable)
		}
	}
	return lagMax, drained
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

// waitDownstream waits, at most bound, until the latest sample shows every downstream
// consumer found with nothing pending. It does not fail: a backlog left is in the figures.
func (w *lagWatch) waitDownstream(ctx context.Context, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		var last lagSample
		if n := len(w.samples); n > 0 {
			last = w.samples[n-1]
		}
		w.mu.Unlock()
		if last.down != nil && !slices.ContainsFunc(last.down, func(b int) bool { return b > 0 }) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
