package sentiment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// source is one stream the aggregates are computed from, with the durable consumer that
// applies it live and the handler both the consumer and a rebuild use.
type source struct {
	stream, subject, durable string
	apply                    func(tx *bolt.Tx, ev bus.Event, emit bool) error
}

func (s *Service) sources() []source {
	return []source{
		{bus.StreamFeedback, "voix.feedback.submitted.>", durableFeedback, s.applyFeedbackEvent},
		{bus.StreamPulse, "voix.pulse.responded.>", durablePulse, func(tx *bolt.Tx, ev bus.Event, _ bool) error { return s.applyResponse(tx, ev) }},
	}
}

// rebuild recomputes every rollup by replaying the streams from their first message, releases
// them, and returns how many events it applied. The releases start afresh: a rebuilt value is
// released as if all its events had arrived at once, which is also what the test compares
// with. It stops the live consumers, then resets and refills the
// rollups in one bbolt transaction: a crash or an error leaves the old rollups as they were.
// Each replayed event is recorded as applied for its live consumer, so an event the consumer
// had not reached yet is not counted twice when it resumes; such an event's ItemScored is
// queued by the rebuild, and only then, since the consumer will skip it.
//
// The transaction holds every change in memory until it commits: a replay of a few million
// events needs a few hundred MB. Later writes (the publisher, the outbox relay) wait for it.
func (s *Service) rebuild(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.host.Paused(func() error {
		return s.host.DB.Update(func(tx *bolt.Tx) error {
			n = 0
			if err := rollup.UnsafeReset(tx); err != nil {
				return err
			}
			done := map[string]bool{} // ids applied by this rebuild: a republished copy is skipped
			for _, src := range s.sources() {
				got, err := s.replay(ctx, tx, src, done)
				n += got
				if err != nil {
					return err
				}
			}
			// Release in the same transaction: readers never see the store half rebuilt,
			// nor empty until the publisher's next tick.
			for {
				_, taken, err := s.unsafeFlush(tx, maxDirtyPerFlush)
				if err != nil || taken < maxDirtyPerFlush {
					return err
				}
			}
		})
	})
	return n, err
}

// replay applies every message of src in stream order.
func (s *Service) replay(ctx context.Context, tx *bolt.Tx, src source, done map[string]bool) (uint64, error) {
	js := s.host.Bus.JetStream()
	st, err := js.Stream(ctx, src.stream)
	if err != nil {
		return 0, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(src.subject))
	if err != nil {
		return 0, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
	}
	if len(info.State.Subjects) == 0 {
		return 0, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{src.subject}})
	if err != nil {
		return 0, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
	}
	var n uint64
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			return n, fmt.Errorf("rebuild: read %s after %d events: %w", src.stream, n, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return n, fmt.Errorf("rebuild: %s: %w", src.stream, err)
		}
		ev, err := bus.EventFromMsg(msg)
		if err == nil && done[src.durable+"\x00"+ev.ID] {
			if meta.NumPending == 0 {
				return n, nil
			}
			continue
		}
		if err == nil {
			done[src.durable+"\x00"+ev.ID] = true
			var already bool
			if already, err = consumer.UnsafeRecord(tx, src.durable, ev.ID); err != nil {
				return n, err
			}
			err = src.apply(tx, ev, !already)
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, consumer.ErrPermanent) || errors.Is(err, bus.ErrInvalidEvent):
			s.host.Log.Warn("rebuild skips an event that cannot be applied", "stream", src.stream, "seq", meta.Sequence.Stream, "err", err)
		default:
			return n, err
		}
		if meta.NumPending == 0 {
			return n, nil
		}
	}
}
