package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// noRespondersTries bounds how many times ReadStream asks again after "no responders".
const noRespondersTries = 50

// ReadStream reads every message stream holds on filters, in order, through one ordered
// consumer, and hands each to fn: as many as the consumer had pending when it was created.
//
// On a cluster (voix e2e-cluster), a pull sent just after the consumer was created, or just
// after a NATS node came back, can reach a server that does not know yet where the consumer
// is, and fails with "no responders": ReadStream asks again (the ordered consumer goes on
// from the last message it delivered), up to noRespondersTries times in all.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, filters []string, fn func(jetstream.Msg) error) error {
	tries := 0
	again := func(err error) bool {
		if !errors.Is(err, nats.ErrNoResponders) || tries >= noRespondersTries {
			return false
		}
		tries++
		return Sleep(ctx, 100*time.Millisecond) == nil
	}
	var cons jetstream.Consumer
	var total uint64
	for {
		var err error
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = cons.Info(ctx)
		}
		if err == nil {
			total = info.NumPending
			break
		}
		if !again(err) {
			return fmt.Errorf("read %s: %w", stream, err)
		}
	}
	for n := uint64(0); n < total; {
		batch, err := cons.Fetch(int(min(500, total-n)), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if err := fn(m); err != nil {
				return err
			}
		}
		n += got
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			if again(err) {
				continue
			}
			return fmt.Errorf("read %s (%d of %d messages read): %w", stream, n, total, err)
		}
		if got == 0 {
			return fmt.Errorf("read %s: %d of %d messages read, then none for 10 s", stream, n, total)
		}
	}
	return nil
}

// Sleep waits d, or returns ctx's error if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
