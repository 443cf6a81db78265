package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
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
	taken := res.victimHeld        // the partitions the killed replica held (check)
	shown := map[string][]uint32{} // aggregate -> the people of each value shown
	res.Updates, res.InheritedUpdates, res.Isolating = 0, 0, nil
	k := anonymity.DefaultMinGroupSize
	err := chaos.ReadStream(ctx, ph.js, events.Sentiment.Name, filters, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
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
		return nil
	})
	if err != nil {
		return fmt.Errorf("partitions: read the updates: %w", err)
	}
	return nil
}
