package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/partition"
)

// checkUpdates reads the SentimentUpdated the replicas published for the phase's
// organisations: how many, how many of the partitions taken over from the killed replica the
// survivor published before it came back, and every pair of values shown of one aggregate
// that differ by 1..k-1 people (the replicas run with the default k). The take-over measure
// (check) must have run: it says which partitions were taken over and when.
func (ph *phase) checkUpdates(ctx context.Context, res *PartitionResult, killed time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var filters []string
	for _, org := range phaseOrgs {
		filters = append(filters, events.SentimentUpdated.Prefix+"."+org, events.SentimentUpdated.Prefix+"."+org+".>")
	}
	cons, err := ph.js.OrderedConsumer(ctx, events.Sentiment.Name, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		return fmt.Errorf("partitions: read the updates: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("partitions: read the updates: %w", err)
	}
	taken := res.victimHeld        // the partitions the killed replica held (check)
	shown := map[string][]uint32{} // aggregate -> the people of each value shown
	res.Updates, res.InheritedUpdates, res.Isolating = 0, 0, nil
	k := anonymity.DefaultMinGroupSize
	for pending := info.NumPending; pending > 0; {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			pending = md.NumPending
			var u eventsv1.SentimentUpdated
			if err := proto.Unmarshal(m.Data(), &u); err != nil {
				return fmt.Errorf("partitions: update %d: %w", md.Sequence.Stream, err)
			}
			a := u.Aggregate
			res.Updates++
			org, _, _ := strings.Cut(a.Segment, "/")
			if taken[partition.Of(org, PhasePartitions)] && md.Timestamp.After(killed) && md.Timestamp.Before(res.restartedAt) {
				res.InheritedUpdates++
			}
			key := fmt.Sprintf("%s/%d/%s", a.Segment, a.Dimension, a.Window.GetKey())
			for _, v := range shown[key] {
				if d := int(a.People) - int(v); d != 0 && d > -k && d < k {
					res.Isolating = append(res.Isolating, fmt.Sprintf("%s: %d and %d people shown", key, v, a.People))
				}
			}
			shown[key] = append(shown[key], a.People)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}
