package sentiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// rebuildChunk is how many events one transaction of a rebuild applies: bbolt transactions
// slow down more than linearly with the pages they change.
const rebuildChunk = 500

// source is one kind of event the aggregates are computed from, with the durable consumer
// that applies it live and the handlers of the live consumer and of a rebuild. Start and the
// rebuild both take their streams and filters from here.
type source struct {
	stream, subject, durable string
	live                     consumer.Handler
	apply                    func(tx *bolt.Tx, rb rollup.Buckets, ev bus.Event, emit bool) error
}

func (s *Service) sources() []source {
	return []source{
		{events.FeedbackSubmitted.Stream.Name, events.FeedbackSubmitted.All(), events.DurableSentimentFeedback, s.applyFeedback, s.applyFeedbackTo},
		{events.PulseResponded.Stream.Name, events.PulseResponded.All(), events.DurableSentimentPulse, s.applyResponse,
			func(_ *bolt.Tx, rb rollup.Buckets, ev bus.Event, _ bool) error { return s.applyResponseTo(rb, ev) }},
	}
}

// rebuiltBucket, inside the staging, lists the events the rebuild applied that the live
// consumers had not: they are recorded as applied for them only when the staging is swapped
// in, so that a rebuild that fails half way leaves the live store exactly as it was.
// stagedBucket lists every event in the staging (durable + 0x00 + id), whether the replay or
// a live consumer put it there, so that each is staged once.
var (
	rebuiltBucket = []byte("rebuild_applied")
	stagedBucket  = []byte("rebuild_staged")
)

// rebuildProgress counts a running rebuild's work, for its log lines.
type rebuildProgress struct {
	replayed, total atomic.Uint64
}

// liveHandler is the live consumer's handler of src: it applies an event to the live rollups
// and, while a rebuild fills its staging, to the staging too, unless the staging has it
// already. Events that arrive during a rebuild are thus in the rollups it swaps in, and the
// consumers never stop.
func (s *Service) liveHandler(src source) consumer.Handler {
	return func(tx *bolt.Tx, ev bus.Event) error {
		if err := src.live(tx, ev); err != nil {
			return err
		}
		st := rollup.Staging(tx)
		if st == nil {
			return nil
		}
		key := []byte(src.durable + "\x00" + ev.ID)
		staged := st.Bucket(stagedBucket)
		if staged == nil || staged.Get(key) != nil {
			return nil
		}
		if err := src.apply(tx, st, ev, false); err != nil {
			return err
		}
		return staged.Put(key, []byte{})
	}
}

// rebuild recomputes every rollup by replaying the streams from their first message, releases
// the result and swaps it in, and returns how many events it applied. The live consumers keep
// running: while the staging exists they apply each event to it as well (liveHandler), and
// the replay skips what they staged, so the rollups swapped in miss nothing that arrived
// meanwhile. One rebuild at a time. The replay fills a staging set of buckets over many transactions of
// rebuildChunk events; the last transaction releases the staging (as if all its events had
// arrived at once, which is what the test compares with) and records for the live consumers
// the events they had not reached; a last one swaps the staging in. An error or a crash before
// the swap leaves the old rollups (the staging is dropped by the next rebuild); between the
// last two transactions it also leaves the updates of the staging queued, which a second
// rebuild publishes again with newer versions.
func (s *Service) rebuild(ctx context.Context) (uint64, error) {
	if !s.rebuilding.CompareAndSwap(false, true) {
		return 0, fmt.Errorf("rebuild: %w", errRebuildRunning)
	}
	defer s.rebuilding.Store(false)
	s.progress.replayed.Store(0)
	s.progress.total.Store(0)
	var n uint64
	err := func() error {
		if err := s.startStaging(); err != nil {
			return err
		}
		for _, src := range s.sources() {
			got, err := s.replay(ctx, src)
			n += got
			if err != nil {
				s.dropStaging()
				return err
			}
		}
		if err := s.host.DB.Update(func(tx *bolt.Tx) error {
			st := rollup.Staging(tx)
			for {
				_, taken, err := s.unsafeFlush(tx, st, maxDirtyPerFlush)
				if err != nil {
					return err
				}
				if taken < maxDirtyPerFlush {
					break
				}
			}
			return nil
		}); err != nil {
			return err
		}
		// The swap is a transaction of its own: bbolt moves a bucket as last committed, so
		// changes made to it in the same transaction would be left behind. The events the
		// live consumers had not reached are recorded for them in the same transaction as the
		// swap, so that they are never marked applied while the live rollups lack them.
		return s.host.DB.Update(func(tx *bolt.Tx) error {
			st := rollup.Staging(tx)
			err := st.Bucket(rebuiltBucket).ForEach(func(k, _ []byte) error {
				durable, id, _ := bytes.Cut(k, []byte{0})
				_, err := consumer.UnsafeRecord(tx, string(durable), string(id))
				return err
			})
			if err != nil {
				return err
			}
			tx.OnCommit(s.reads.swapped)
			return rollup.UnsafeSwapStaging(tx)
		})
	}()
	return n, err
}

// startStaging creates an empty staging; from its commit on, live consumers stage what they
// apply.
func (s *Service) startStaging() error {
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		st, err := rollup.UnsafeStartStaging(tx)
		if err != nil {
			return err
		}
		if _, err = st.CreateBucket(stagedBucket); err != nil {
			return err
		}
		_, err = st.CreateBucket(rebuiltBucket)
		return err
	})
}

// dropStaging deletes a failed rebuild's staging, so live events stop going there.
func (s *Service) dropStaging() {
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if rollup.Staging(tx) == nil {
			return nil
		}
		return rollup.UnsafeDropStaging(tx)
	})
	if err != nil {
		s.host.Log.Warn("drop the staging of a failed rebuild", "err", err)
	}
}

// replay applies every message of src in stream order into the staging, rebuildChunk per
// transaction.
func (s *Service) replay(ctx context.Context, src source) (uint64, error) {
	js := s.host.Bus.JetStream()
	st, err := js.Stream(ctx, src.stream)
	if err != nil {
		return 0, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(src.subject))
	if err != nil {
		return 0, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
	}
	if info.State.FirstSeq > 1 {
		// Events older than the stream's retention are gone: replaying the rest would drop
		// them from every aggregate, including values already published.
		return 0, fmt.Errorf("history: %w: stream %s no longer holds its first %d events (MaxAge %v: the oldest kept is from %s): "+
			"a rebuild would drop them from every aggregate, so it is refused; the aggregates stay as they are",
			errHistoryAgedOut, src.stream, info.State.FirstSeq-1, info.Config.MaxAge, info.State.FirstTime.Format("2006-01-02"))
	}
	if len(info.State.Subjects) == 0 {
		return 0, nil
	}
	var total uint64
	for _, c := range info.State.Subjects {
		total += c
	}
	s.progress.total.Add(total)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{src.subject}})
	if err != nil {
		return 0, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
	}
	var n uint64
	for last := false; !last; {
		before := n
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			n = before // a transaction retried counts again
			rb := rollup.Staging(tx)
			if rb == nil {
				return errors.New("rebuild: staging vanished")
			}
			s.openWriter(rb)
			for i := 0; i < rebuildChunk && !last; i++ {
				msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
				if err != nil {
					return fmt.Errorf("rebuild: read %s after %d events: %w", src.stream, n, err)
				}
				meta, err := msg.Metadata()
				if err != nil {
					return fmt.Errorf("rebuild: %s: %w", src.stream, err)
				}
				last = meta.NumPending == 0
				applied, err := s.replayOne(tx, rb, src, msg)
				switch {
				case err == nil:
					if applied {
						n++
					}
				case errors.Is(err, consumer.ErrPermanent) || errors.Is(err, bus.ErrInvalidEvent):
					s.host.Log.Warn("rebuild skips an event that cannot be applied", "stream", src.stream, "seq", meta.Sequence.Stream, "err", err)
				default:
					return err
				}
			}
			return s.flushWriter(rb)
		})
		if err != nil {
			return n, err
		}
		s.progress.replayed.Add(n - before)
		s.host.Log.Info("rebuild progress", "stream", src.stream, "replayed", n, "of", total)
	}
	return n, nil
}

// replayOne applies one message into the staging, unless this rebuild already applied its id.
// An event the live consumer had not reached is noted for it, and its ItemScored is queued,
// since that consumer will skip it.
func (s *Service) replayOne(tx *bolt.Tx, rb *bolt.Bucket, src source, msg jetstream.Msg) (bool, error) {
	ev, err := bus.EventFromMsg(msg)
	if err != nil {
		return false, err
	}
	key := src.durable + "\x00" + ev.ID
	staged := rb.Bucket(stagedBucket)
	if staged.Get([]byte(key)) != nil {
		return false, nil // a republished copy, or staged by a live consumer
	}
	fresh := !consumer.Applied(tx, src.durable, ev.ID)
	// Every check of a handler comes before its first write, so a permanent failure leaves
	// nothing half-applied in this shared transaction.
	if err := src.apply(tx, rb, ev, fresh); err != nil {
		return false, err
	}
	if err := staged.Put([]byte(key), []byte{}); err != nil {
		return false, err
	}
	if fresh {
		if err := rb.Bucket(rebuiltBucket).Put([]byte(key), []byte{}); err != nil {
			return false, err
		}
	}
	return true, nil
}
