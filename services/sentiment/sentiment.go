// Package sentiment is the sentiment aggregation service. It consumes submitted comments and
// survey responses from JetStream, scores their text, and keeps rollups per segment (and every
// ancestor), dimension and window, counting distinct people rather than comments.
//
// Readers and subscribers never see the live rollups: a publisher releases aggregates node by
// node, when nothing shown, now or before, would let anyone work out what fewer than k people
// said (see publish.go and platform/anonymity/release). Releases of the published window length
// go out as voix.sentiment.updated.<segment>; drops against the trailing baseline as alerts.
package sentiment

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/store"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/alert"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// DefaultListen is the sentiment service's gRPC address in docs/design.md.
const DefaultListen = "127.0.0.1:7103"

// consumerGroup is how many events each consumer applies in one bbolt transaction (one
// commit, then all their acks: consumer.Config.Group). A group only fills under a backlog.
// 2,048 rather than 512 halved the apply CPU per event in BenchmarkMillion when contributors
// were keyed by a random tag; 8,192 saves a further sixth now (a commit writes the end of the
// contributor log and the week's pages of aggregates) but holds 40 MB more (docs/performance.md).
const consumerGroup = 2048

// keepApplied is how long the ids of applied events are kept (consumer.Config.KeepApplied):
// far beyond the streams' duplicate window, for an outbox that republishes after an outage.
const keepApplied = 7 * 24 * time.Hour

// Config configures the service. Zero values take the documented defaults.
type Config struct {
	// Listen is the gRPC address. Default DefaultListen.
	Listen string
	// DataDir holds the store under DataDir/sentiment. Required.
	DataDir string
	// NATS says how to reach NATS. URL required.
	NATS bus.Config
	// TokensFile defaults to the host's file under DataDir.
	TokensFile string
	// Secret is the deployment's shared anonymity secret; its File defaults to
	// <DataDir>/secret.key, which must exist unless Secret.Create (host.Config).
	Secret anonymity.SecretSource
	// MinGroupSize is k: no aggregate is shown or published for fewer distinct people, and
	// no part of a shown one (its scores, its eNPS, one emotion's count) for fewer distinct
	// people of that part. Default anonymity.DefaultMinGroupSize; at least 2.
	MinGroupSize int
	// Language is the organisation's language, used for texts too short to tell. Default "en".
	Language string
	// Publish is the window length published on voix.sentiment.updated: Week (the default) or
	// Month. Only one: weeks and months overlap without nesting, so a subscriber to both could
	// subtract a month's whole weeks from it and isolate a few days; days are never published,
	// since a day could be subtracted from its week.
	Publish window.Granularity
	// PublishInterval is how often changed aggregates are published, so at most one update per
	// aggregate per interval. Default DefaultPublishInterval.
	PublishInterval time.Duration
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxStreams caps the concurrent gRPC calls of one client connection (host.Config).
	MaxStreams uint32
	// Ops are the operator's settings: TLS, metrics, per-token stream cap (host.Ops).
	Ops host.Ops
	// Partitions, above 1, runs this service as one of several replicas, each organisation
	// owned by one replica at a time (partitioned.go, package partition); every replica needs
	// the same count. Default 1: one process applies every organisation.
	Partitions int
	// Replica names this replica among the others (required with Partitions above 1).
	Replica string
	// LeaseTTL is how long a dead replica's partitions wait before another takes them.
	// Default partition.DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Advertise is the host:port the other replicas dial to forward a read to this one (it is
	// registered in its leases). Default: the address it listens on, which must then name
	// one host (with Partitions above 1, a wildcard Listen such as 0.0.0.0 needs Advertise).
	Advertise string
	// PeerTLS is the client TLS configuration a replica dials the owner of a partition with, to
	// forward a read (forward.go). Unset: plain gRPC, unless Ops.TLS is set (then reads of the
	// partitions of other replicas are refused with Unavailable naming the owner).
	PeerTLS *tls.Config
	// MinConfidence is the top-class probability an item's text needs to count in the
	// aggregates' scores (countable, confidence.go); below it the item is still scored and
	// its ItemScored still published. In [0, 1]; default 0 counts everything.
	MinConfidence float64
	// CXSegmentWait is how long a well-formed customer signal for a segment the registry does
	// not hold is retried before it is terminated (consumer.Config.WaitFor, counted from its
	// first delivery to this replica). Default DefaultCXSegmentWait.
	CXSegmentWait time.Duration
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MinGroupSize == 0 {
		c.MinGroupSize = anonymity.DefaultMinGroupSize
	}
	if c.MinGroupSize < 2 {
		return errors.New("sentiment: MinGroupSize must be at least 2: a group of one is a person")
	}
	if c.Language == "" {
		c.Language = "en"
	}
	if c.Language != "en" && c.Language != "fr" {
		return errors.New(`sentiment: Language must be "en" or "fr"`)
	}
	switch c.Publish {
	case 0:
		c.Publish = window.Week
	case window.Week, window.Month:
	default:
		return fmt.Errorf("sentiment: Publish must be Week or Month, not %v: a published day could be subtracted from its week", c.Publish)
	}
	if c.PublishInterval == 0 {
		c.PublishInterval = DefaultPublishInterval
	}
	if c.PublishInterval < 0 {
		return errors.New("sentiment: PublishInterval must be positive")
	}
	if !(c.MinConfidence >= 0 && c.MinConfidence <= 1) {
		return fmt.Errorf("sentiment: MinConfidence must be in [0, 1], not %v", c.MinConfidence)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CXSegmentWait == 0 {
		c.CXSegmentWait = DefaultCXSegmentWait
	}
	if c.CXSegmentWait < 0 {
		return fmt.Errorf("sentiment: CXSegmentWait must be positive, not %v", c.CXSegmentWait)
	}
	return c.partitionDefaults()
}

// Service is a running sentiment service.
type Service struct {
	cfg  Config
	host *host.Host
	// analyzers by default language: the organisation's, or the one a caller names.
	analyzers map[string]*analyzer.Analyzer
	publish   map[window.Granularity]bool
	// wmu guards w, the writer of the transaction applying events (grouped, flushWriter).
	wmu sync.Mutex
	w   *rollup.Writer
	// reads caches heatmaps until a release changes them (view.go).
	reads readCache
	// rebuilding is set while a rebuild runs (rebuild.go), with its progress.
	rebuilding atomic.Bool
	// parts is this replica's membership of the partitioned group, once joined (partitioned.go).
	parts    atomic.Pointer[partition.Group]
	progress rebuildProgress
	// lbuf and gate: the release log (releaselog.go).
	lbuf logBuffer
	gate atomic.Bool
	// pbuf: the releases of a flush for the partition logs (partitioned_log.go).
	pbuf partBuffer
	// The comments of the live consumer's groups in flight, prepared (prepare.go).
	preparedComments preparedSet[*preparedFeedback]
}

// Start opens the store, starts the consumers and serves gRPC.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h, err := host.New(ctx, host.Config{
		Name:       sentimentv1.SentimentService_ServiceDesc.ServiceName,
		Store:      "sentiment",
		Listen:     cfg.Listen,
		DataDir:    cfg.DataDir,
		NATS:       cfg.NATS,
		TokensFile: cfg.TokensFile,
		Secret:     cfg.Secret,
		Policy:     policy,
		Log:        cfg.Log,
		MaxStreams: cfg.MaxStreams,
		Ops:        cfg.Ops,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		host:      h,
		analyzers: map[string]*analyzer.Analyzer{"en": analyzer.New("en"), "fr": analyzer.New("fr")},
		publish:   map[window.Granularity]bool{},
	}
	s.publish[cfg.Publish] = true
	if err := store.EnsureBuckets(h.DB, append(rollup.Names(), alert.Buckets()...)...); err != nil {
		h.Close()
		return nil, err
	}
	if n, err := rollup.Migrate(h.DB); err != nil {
		h.Close()
		return nil, err
	} else if n > 0 {
		h.Log.Info("moved contributors to the compact layout", "records", n)
	}
	s.dropStaging() // left by a rebuild that crashed: no rebuild runs yet
	// Partitioned and unpartitioned stores are not mixed (partitioned.go).
	if err := s.checkMode(); err != nil {
		h.Close()
		return nil, err
	}
	h.GRPC().RegisterService(s.forwarding(&serviceDesc), &api{svc: s}) // the generated one, GetHeatmap and GetTrend served encoded (encoded.go)
	var parts []partition.Source
	for _, src := range s.sources() {
		// Events share bbolt commits (Group): sums do not depend on order, and each event's
		// writes, outbox record included, stay inside the transaction.
		c := consumer.Config{Stream: src.stream, Durable: src.durable, FilterSubjects: []string{src.subject},
			Handle: s.grouped(s.liveHandler(src)), Flush: func(tx *bolt.Tx) error { return errors.Join(s.flushLog(tx), s.flushWriter(tx)) },
			Group: consumerGroup, KeepApplied: keepApplied, Prepare: s.livePrepare(src.durable)}
		if s.partitioned() {
			parts = append(parts, partition.Source{Name: c.Durable, Stream: c.Stream, Subject: src.subject, Handle: c.Handle, Flush: c.Flush,
				KeepApplied: c.KeepApplied})
			continue
		}
		if err := h.Consume(c); err != nil {
			h.Close()
			return nil, err
		}
	}
	if s.partitioned() {
		s.startPartitions(parts)
	}
	if err := s.startCX(); err != nil { // the customer mirror (cx.go)
		h.Close()
		return nil, err
	}
	h.Go(s.publishLoop)
	h.Serve()
	return s, nil
}

// analyze scores text; lang, when given, is the language assumed for texts too short to tell,
// instead of the organisation's.
func (s *Service) analyze(text, lang string) analyzer.Result {
	a, ok := s.analyzers[lang]
	if !ok {
		a = s.analyzers[s.cfg.Language]
	}
	return a.Analyze(text)
}

// Addr is the gRPC address the service listens on.
func (s *Service) Addr() string { return s.host.Addr() }

// MetricsAddr is the admin listener's address (/metrics), or "" when Ops.MetricsListen is unset.
func (s *Service) MetricsAddr() string { return s.host.MetricsAddr() }

// Close stops the service; acknowledged events are all in the store.
func (s *Service) Close() error { return s.host.Close() }
