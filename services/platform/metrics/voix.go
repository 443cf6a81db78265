package metrics

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// Counter is one of voix's own counters that a service adds to where the thing happens
// (host.Host.Count). The host of Service registers it at start, so it shows from zero.
type Counter struct {
	Service    string // the host.Config.Store of the only service that exports it
	Name, Help string
}

// Releases counts the aggregate versions the sentiment publisher releases to readers.
var Releases = Counter{
	Service: "sentiment",
	Name:    "voix_sentiment_releases_total",
	Help:    "Aggregate versions the sentiment publisher released to readers (committed; a rebuild's replay does not count).",
}

// CXSignalsExpired counts the customer signals the sentiment service terminated because their
// segment was still not registered after sentiment.Config.CXSegmentWait.
var CXSignalsExpired = Counter{
	Service: "sentiment",
	Name:    "voix_sentiment_cx_signals_expired_total",
	Help:    "Customer signals terminated because their segment was still not registered after the wait (CXSegmentWait).",
}

// Counters is every Counter, for the hosts to register theirs.
var Counters = []Counter{Releases, CXSignalsExpired}

// NewHiddenCells registers voix_hidden_cells_served_total on reg and returns the unary
// interceptor that counts, in every successful response, the aggregates served hidden
// (commonv1.Aggregate.hidden: fewer contributors than the minimum group size). Only the number
// is counted: no segment, window or caller.
func NewHiddenCells(reg prometheus.Registerer, labels prometheus.Labels) (grpc.UnaryServerInterceptor, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "voix_hidden_cells_served_total",
		Help:        "Aggregates served hidden (below the minimum group size) in the responses of unary calls (GetSentiment, GetTrend, GetHeatmap).",
		ConstLabels: labels,
	})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: register hidden cells: %w", err)
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if m, ok := resp.(proto.Message); ok && err == nil {
			if n := HiddenAggregates(m); n > 0 {
				c.Add(float64(n))
			}
		}
		return resp, err
	}, nil
}

var (
	aggregateDesc = (&commonv1.Aggregate{}).ProtoReflect().Descriptor()
	hiddenField   = aggregateDesc.Fields().ByName("hidden")
	// holds caches, per message type, whether it can contain an Aggregate at all, so that
	// responses that cannot are not walked.
	holds sync.Map // protoreflect.FullName → bool
)

// HiddenAggregates is the number of hidden Aggregates anywhere in m.
func HiddenAggregates(m proto.Message) int {
	if m == nil {
		return 0
	}
	return countHidden(m.ProtoReflect())
}

func countHidden(m protoreflect.Message) int {
	d := m.Descriptor()
	if d.FullName() == aggregateDesc.FullName() {
		if m.Get(hiddenField).Bool() {
			return 1
		}
		return 0
	}
	if !canHold(d) {
		return 0
	}
	n := 0
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		md := fd.Message()
		if md == nil || fd.IsMap() && fd.MapValue().Message() == nil {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				n += countHidden(l.Get(i).Message())
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				n += countHidden(mv.Message())
				return true
			})
		default:
			n += countHidden(v.Message())
		}
		return true
	})
	return n
}

// canHold says whether a message of type d can contain an Aggregate, at any depth.
func canHold(d protoreflect.MessageDescriptor) bool {
	if v, ok := holds.Load(d.FullName()); ok {
		return v.(bool)
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(protoreflect.MessageDescriptor) bool
	walk = func(d protoreflect.MessageDescriptor) bool {
		if d.FullName() == aggregateDesc.FullName() {
			return true
		}
		if seen[d.FullName()] {
			return false
		}
		seen[d.FullName()] = true
		fields := d.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if md := fd.Message(); md != nil && walk(md) {
				return true
			}
		}
		return false
	}
	v := walk(d)
	holds.Store(d.FullName(), v)
	return v
}
