package sentiment

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/metrics"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment/internal/cx"
)

// cxConsumers are the customer mirror's durable consumers: the signals CX tools publish on
// voix.cx.<segment>, and the segment registry that says which segments exist. Each applies
// an event in the transaction that records its id (consumer), and a signal is one key in the
// store whatever its event id (cx), so a redelivery or a republish counts once.
//
// Replicas of a partitioned service (Config.Partitions above 1) each keep every signal and
// the whole registry (a few records per team and week): each has durables of its own, named
// after it, rather than sharing one that would give each signal to one replica only.
func (s *Service) cxConsumers() []consumer.Config {
	sigs, segs := events.DurableSentimentCX, events.DurableSentimentSegments
	if s.cfg.Partitions > 1 {
		suffix := "-" + durableToken(s.cfg.Replica)
		sigs, segs = sigs+suffix, segs+suffix
	}
	return []consumer.Config{
		{Stream: events.CX.Name, Durable: sigs, FilterSubjects: []string{events.CXSignal.All()},
			Handle: s.applySignal, KeepApplied: keepApplied,
			WaitFor: s.cfg.CXSegmentWait, OnGiveUp: func(bus.Event, error) { s.host.Count(metrics.CXSignalsExpired, 1) }},
		{Stream: events.Pulse.Name, Durable: segs, FilterSubjects: []string{events.PulseSegmentUpserted.All()},
			Handle: applyRegistry, KeepApplied: keepApplied},
	}
}

// durableToken is name with every character a durable name may not hold replaced by '_'.
func durableToken(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
}

// decodeSignal reads a CustomerSignal published by a CX tool: protobuf, or its JSON form
// (protojson) for tools that speak JSON. A JSON object starts with '{', which no protobuf
// encoding of CustomerSignal does (it would be field 15 as a group).
func decodeSignal(data []byte) (*sentimentv1.CustomerSignal, error) {
	m := &sentimentv1.CustomerSignal{}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return m, protojson.Unmarshal(t, m)
	}
	return m, proto.Unmarshal(data, m)
}

// DefaultCXSegmentWait is how long a customer signal for a segment the registry does not
// hold is retried by default: as long as the applied ids are kept (keepApplied), the time a
// copy of an event is still expected. A team is registered (pulse's SegmentUpserted) when it
// is created, within seconds; a week later, a CX tool still naming a team that does not
// exist is misconfigured (a typo, a team deleted), and its signal would otherwise come back
// once a minute and hold an ack-pending slot forever. The tool can publish it again once
// the team exists: a signal is one key in the store whatever its event id.
const DefaultCXSegmentWait = keepApplied

// applySignal records a CXSignal. Input that can never be recorded (undecodable, out of
// range, on another segment's subject) is terminated; a segment the registry does not hold
// yet is retried, since its SegmentUpserted may still be on the way, for Config.CXSegmentWait
// (consumer.ErrNotYet), then terminated with a warning naming the segment and counted
// (metrics.CXSignalsExpired).
func (s *Service) applySignal(tx *bolt.Tx, ev bus.Event) error {
	if ev.Type != events.CXSignal.Type {
		return fmt.Errorf("%w: type %q on %s, want %s", consumer.ErrPermanent, ev.Type, ev.Subject, events.CXSignal.Type)
	}
	m, err := decodeSignal(ev.Data)
	if err != nil {
		return fmt.Errorf("%w: undecodable CustomerSignal on %s: %v", consumer.ErrPermanent, ev.Subject, err)
	}
	sig, err := signalFromProto("", m, s.cfg.Now())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", consumer.ErrPermanent, ev.Subject, err)
	}
	if want := events.CXSignal.Subject(sig.Segment); ev.Subject != want {
		return fmt.Errorf("%w: a signal for %s published on %s, want %s", consumer.ErrPermanent, sig.Segment, ev.Subject, want)
	}
	if ok, err := segmentExists(tx, sig.Segment); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("signal for %s: %w: %w", sig.Segment, errUnregistered, consumer.ErrNotYet)
	}
	_, err = cx.UnsafePut(tx, sig)
	return err
}

// applyRegistry keeps the copy of the segment registry (PulseSegmentUpserted).
func applyRegistry(tx *bolt.Tx, ev bus.Event) error {
	var m eventsv1.SegmentUpserted
	if err := proto.Unmarshal(ev.Data, &m); err != nil {
		return fmt.Errorf("%w: undecodable SegmentUpserted: %v", consumer.ErrPermanent, err)
	}
	p, err := segment.Parse(m.Path)
	if err != nil {
		return fmt.Errorf("%w: SegmentUpserted path %q: %v", consumer.ErrPermanent, m.Path, err)
	}
	return cx.UnsafeRegister(tx, p, m.Headcount, m.Version)
}
