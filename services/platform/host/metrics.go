package host

import (
	"context"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/grpcserver"
	"github.com/voix-dev/voix/services/platform/metrics"
)

// hostMetrics are what a Host exports on --metrics-listen besides the gRPC metrics.
type hostMetrics struct {
	applied  *prometheus.CounterVec
	counters map[string]prometheus.Counter // the service's metrics.Counters, by name
}

// startMetrics starts the admin listener when Ops.MetricsListen is set, and puts the gRPC
// metrics interceptors on gcfg.
func (h *Host) startMetrics(gcfg *grpcserver.Config) error {
	if h.cfg.Ops.MetricsListen == "" {
		return nil
	}
	reg := metrics.NewRegistry()
	grpcm, err := metrics.NewGRPCServer(reg)
	if err != nil {
		return err
	}
	h.metrics = grpcm
	gcfg.Unary = append(gcfg.Unary, grpcm.UnaryServerInterceptor())
	gcfg.Stream = append(gcfg.Stream, grpcm.StreamServerInterceptor())
	labels := prometheus.Labels{"service": h.cfg.Store}
	h.hm.applied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "voix_events_applied_total",
		Help:        "Events a durable consumer applied to the store (committed; redeliveries of an event already applied are not counted).",
		ConstLabels: labels,
	}, []string{"durable"})
	if err := reg.Register(h.hm.applied); err != nil {
		return err
	}
	if err := reg.Register(&stateCollector{h: h, labels: labels}); err != nil {
		return err
	}
	hidden, err := metrics.NewHiddenCells(reg, labels)
	if err != nil {
		return err
	}
	gcfg.Unary = append(gcfg.Unary, hidden)
	h.hm.counters = map[string]prometheus.Counter{}
	for _, c := range metrics.Counters {
		if c.Service != h.cfg.Store {
			continue
		}
		pc := prometheus.NewCounter(prometheus.CounterOpts{Name: c.Name, Help: c.Help, ConstLabels: labels})
		if err := reg.Register(pc); err != nil {
			return err
		}
		h.hm.counters[c.Name] = pc
	}
	h.admin, err = metrics.Serve(h.cfg.Ops.MetricsListen, reg, h.Log)
	return err
}

// countApplied wraps a consumer's handler so that each committed application counts once.
func (h *Host) countApplied(cfg consumer.Config) consumer.Config {
	if h.hm.applied == nil {
		return cfg
	}
	c := h.hm.applied.WithLabelValues(cfg.Durable)
	next := cfg.Handle
	cfg.Handle = func(tx *bolt.Tx, ev bus.Event) error {
		if err := next(tx, ev); err != nil {
			return err
		}
		tx.OnCommit(c.Inc)
		return nil
	}
	return cfg
}

// Count adds n to c; nothing when metrics are off or c is another service's.
func (h *Host) Count(c metrics.Counter, n int) {
	if pc := h.hm.counters[c.Name]; pc != nil && n > 0 {
		pc.Add(float64(n))
	}
}

// MetricsAddr is the admin listener's address, or "" when metrics are off.
func (h *Host) MetricsAddr() string {
	if h.admin == nil {
		return ""
	}
	return h.admin.Addr()
}

// GRPCMetrics is the per-RPC metrics, or nil when metrics are off.
func (h *Host) GRPCMetrics() *grpcprom.ServerMetrics { return h.metrics }

// stateCollector reads the Host's state at scrape time: the outbox depth, whether NATS is
// connected, and each durable consumer's lag as the server counts it.
type stateCollector struct {
	h      *Host
	labels prometheus.Labels
}

var (
	outboxDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("voix_outbox_pending", "Events committed to the store and not yet published to NATS.", nil, l)
	}
	connectedDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("voix_nats_connected", "1 while the NATS connection is up.", nil, l)
	}
	lagDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("voix_consumer_pending_messages", "Messages of the stream the durable consumer has not received yet (its lag).", []string{"durable"}, l)
	}
	relayLagDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("voix_outbox_relay_lag_seconds", "Age of the oldest event in the outbox not yet published, since its commit (to the second; 0 when the outbox is empty).", nil, l)
	}
	ackDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("voix_consumer_ack_pending", "Messages delivered to the durable consumer and not acknowledged yet.", []string{"durable"}, l)
	}
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc(c.labels)
	ch <- relayLagDesc(c.labels)
	ch <- connectedDesc(c.labels)
	ch <- lagDesc(c.labels)
	ch <- ackDesc(c.labels)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	if h.Outbox != nil {
		if n, err := h.Outbox.Pending(); err == nil {
			ch <- prometheus.MustNewConstMetric(outboxDesc(c.labels), prometheus.GaugeValue, float64(n))
		}
		if age, err := h.Outbox.OldestAge(); err == nil {
			ch <- prometheus.MustNewConstMetric(relayLagDesc(c.labels), prometheus.GaugeValue, age.Truncate(time.Second).Seconds())
		}
	}
	connected := h.Bus != nil && h.Bus.Connected()
	ch <- prometheus.MustNewConstMetric(connectedDesc(c.labels), prometheus.GaugeValue, b2f(connected))
	if !connected {
		return // the lag is the server's to tell
	}
	h.mu.Lock()
	cfgs := append([]consumer.Config(nil), h.consumerCfgs...)
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, cfg := range cfgs {
		cons, err := h.Bus.JetStream().Consumer(ctx, cfg.Stream, cfg.Durable)
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagDesc(c.labels), prometheus.GaugeValue, float64(info.NumPending), cfg.Durable)
		ch <- prometheus.MustNewConstMetric(ackDesc(c.labels), prometheus.GaugeValue, float64(info.NumAckPending), cfg.Durable)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
