package sentiment

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// The live consumers apply events in groups, one bbolt transaction each, on one goroutine.
// Most of what a comment costs reads nothing of the store: decoding it, opening its contributor
// tags, scoring its text, encoding its ItemScored. The feedback consumer prepares each group
// that way (consumer.Config.Prepare) on every core, while the group before is applied; the
// handler then finds the comment prepared, by id, and only adds it to the rollups and the
// outbox. Preparing is a function of the event alone, so the rollups and outbox records are
// the same, in the same order, whether a comment was prepared or not and on how many goroutines
// (TestPreparedGroupsApplyAsSerial). Survey responses are not prepared: without text to score
// there is little to take off the transaction, and measured through NATS the handover cost
// more than it saved (docs/performance.md).

// preparedFeedback is a comment decoded, scored and its tags opened and checked, ready to add
// (applyPreparedFeedback).
type preparedFeedback struct {
	seg    segment.Path
	tags   []tagRef
	opened [][]byte
	parts  []contribution
	// With emit: its id, and its ItemScored (data) ready for the outbox, dated day.
	id     string
	data   []byte
	scored outbox.Record
	day    time.Time
	err    error // what applying it returns, without writing anything
}

// prepareFeedback does what applyFeedbackTo does without the store; emit also renders the
// comment's ItemScored.
func (s *Service) prepareFeedback(ev bus.Event, emit bool) *preparedFeedback {
	var m feedbackView
	if err := decodeFeedback(ev.Data, &m); err != nil {
		return &preparedFeedback{err: fmt.Errorf("%w: decode FeedbackSubmitted %s: %v", consumer.ErrPermanent, ev.ID, err)}
	}
	seg, err := parsedSegments.get(m.segment)
	if err != nil {
		return &preparedFeedback{err: fmt.Errorf("%w: FeedbackSubmitted %s: segment: %v", consumer.ErrPermanent, ev.ID, err)}
	}
	res := s.analyze(m.text, m.language)
	p := &preparedFeedback{seg: seg, tags: m.tags, parts: s.countable(res, m.dims)}
	if p.opened, err = s.openTags(seg, p.tags); err != nil {
		return &preparedFeedback{err: err}
	}
	if !emit {
		return p
	}
	data, err := proto.Marshal(&eventsv1.ItemScored{
		ItemId:     m.id,
		Kind:       eventsv1.ItemKind_ITEM_KIND_FEEDBACK,
		Segment:    seg.String(),
		Score:      res.Score,
		Label:      labelProto(res.Label),
		Language:   res.Language,
		Dimensions: dimensionScores(res),
		Risks:      riskFlags(res.Risks),
	})
	if err != nil {
		return &preparedFeedback{err: err}
	}
	// The outbox dates a record by its day: the apply just after is almost always on the same
	// day, else it dates the record anew (applyPreparedFeedback).
	p.id, p.data, p.day = m.id, data, bus.Day(s.cfg.Now())
	p.scored, p.err = outbox.Prepare(p.scoredEvent(p.day))
	return p
}

// scoredEvent is the ItemScored event of a comment prepared with emit, at t.
func (p *preparedFeedback) scoredEvent(t time.Time) bus.Event {
	return bus.Event{
		ID:      events.ScoredID(p.id),
		Type:    events.SentimentScored.Type,
		Source:  events.SentimentScored.Source,
		Subject: events.SentimentScored.Subject(p.seg),
		Time:    t,
		Data:    p.data,
	}
}

// applyPreparedFeedback adds a prepared comment to the rollups in rb and, with emit, queues
// its ItemScored in tx's outbox.
func (s *Service) applyPreparedFeedback(tx *bolt.Tx, rb rollup.Buckets, p *preparedFeedback, emit bool) error {
	if p.err != nil {
		return p.err
	}
	if err := s.addParts(rb, p.seg, p.tags, p.opened, p.parts); err != nil {
		return err
	}
	if !emit {
		return nil
	}
	if now := s.cfg.Now(); !bus.Day(now).Equal(p.day) {
		return s.host.Outbox.Add(tx, p.scoredEvent(now))
	}
	return s.host.Outbox.AddRecord(tx, p.scored)
}

// livePrepare is the consumer.Config.Prepare of the live consumer durable, nil if it has none.
func (s *Service) livePrepare(durable string) func([]bus.Event) func() {
	if durable != events.DurableSentimentFeedback {
		return nil
	}
	return func(evs []bus.Event) func() {
		return s.preparedComments.prepare(evs, func(ev bus.Event) *preparedFeedback { return s.prepareFeedback(ev, true) })
	}
}

// preparedSet holds the events of the groups in flight of a live consumer, prepared, by id.
type preparedSet[T any] struct {
	mu sync.Mutex
	m  map[string]preparedEvent[T]
}

type preparedEvent[T any] struct {
	data []byte // the payload it was prepared from
	v    T
}

// prepare prepares evs with f, on up to GOMAXPROCS goroutines, and keeps them until the
// returned release.
func (p *preparedSet[T]) prepare(evs []bus.Event, f func(bus.Event) T) (release func()) {
	out := make([]T, len(evs))
	parallel(len(evs), func(i int) { out[i] = f(evs[i]) })
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]preparedEvent[T], 2*len(evs))
	}
	for i, ev := range evs {
		p.m[ev.ID] = preparedEvent[T]{data: ev.Data, v: out[i]}
	}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, ev := range evs {
			delete(p.m, ev.ID)
		}
	}
}

// get returns ev prepared, if it is held: prepared from the same payload.
func (p *preparedSet[T]) get(ev bus.Event) (v T, ok bool) {
	p.mu.Lock()
	e, ok := p.m[ev.ID]
	p.mu.Unlock()
	if !ok || !bytes.Equal(e.data, ev.Data) {
		return v, false
	}
	return e.v, true
}

// parallelChunk is how many items a goroutine of parallel takes at a time.
const parallelChunk = 16

// parallel calls f(i) for every i in [0, n), on up to GOMAXPROCS goroutines, and returns once
// every call has.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+parallelChunk-1)/parallelChunk)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(parallelChunk)) - parallelChunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+parallelChunk, n); i++ {
					f(i)
				}
			}
		})
	}
	wg.Wait()
}
