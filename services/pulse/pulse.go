// Package pulse is the pulse survey service: HR defines surveys for an audience (a segment
// prefix), waves open for a response window, people answer once per wave through a bot, and
// every response is stored and published without anything that says who gave it.
//
// This package holds the gRPC face (validation, authorisation, proto mapping); the bbolt
// layout and its records are in internal/store, mapped to and from the API and event messages
// in records.go. Pulse also owns the segment registry (registry.go), the one source of
// headcounts, which it publishes as SegmentUpserted events. A scheduler inside the service
// opens and closes waves on the survey's calendar and rotates questions through the bank;
// results are cut from one suppression of the whole audience tree so that no view, alone or
// with others, shows a group smaller than the minimum size.
package pulse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/marks"
	"github.com/voix-dev/voix/services/platform/peers"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// DefaultListen is the pulse service's gRPC address in docs/design.md.
const DefaultListen = "127.0.0.1:7101"

// Config configures the service. Zero values take the documented defaults.
type Config struct {
	// Listen is the gRPC address, host:port. Default DefaultListen; "127.0.0.1:0" picks a port.
	Listen string
	// DataDir holds the store in DataDir/pulse/pulse.db. Required.
	DataDir string
	// NATS says how to reach NATS. URL required.
	NATS bus.Config
	// TokensFile defaults to the host's file under DataDir.
	TokensFile string
	// Secret is the deployment's shared anonymity secret; its File defaults to
	// <DataDir>/secret.key, which must exist unless Secret.Create (host.Config).
	Secret anonymity.SecretSource
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
	// Now is the clock: waves are open when opens_at <= Now() < closes_at. Default time.Now.
	Now func() time.Time
	// ScheduleEvery is how often the scheduler opens and closes waves and announces them.
	// Default one second; a pass also runs at Start, so a restart catches up at once.
	ScheduleEvery time.Duration
	// MinGroupSize is k for a survey created without one (min_group_size 0). Default
	// anonymity.DefaultMinGroupSize; at least 3, the floor a survey's own k has.
	MinGroupSize int
	// MaxStreams caps the concurrent gRPC calls of one client connection (host.Config).
	MaxStreams uint32
	// Ops are the operator's settings: TLS, metrics, per-token stream cap (host.Ops).
	Ops host.Ops
	// Replica, when named, makes this service one of several replicas sharing the
	// one-response-per-wave markers through NATS (replicas.go). Default: one replica.
	Replica ReplicaConfig
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		return errors.New("pulse: DataDir is required")
	}
	if c.NATS.URL == "" {
		return errors.New("pulse: NATS.URL is required (e.g. nats://127.0.0.1:4222)")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ScheduleEvery <= 0 {
		c.ScheduleEvery = time.Second
	}
	if c.MinGroupSize == 0 {
		c.MinGroupSize = anonymity.DefaultMinGroupSize
	}
	if c.MinGroupSize < minGroupSizeFloor {
		return fmt.Errorf("pulse: MinGroupSize is %d; must be at least %d", c.MinGroupSize, minGroupSizeFloor)
	}
	return nil
}

// Service is a running pulse service.
type Service struct {
	cfg  Config
	host *host.Host
	// commit group-commits the responses: one transaction and fsync for all that arrive while
	// the previous commit is on its way to disk (platform/groupcommit).
	commit *groupcommit.Committer
	// commitSurvey is the survey last checked at commit by SubmitResponse; respondSurvey the
	// surveys its handler read (respond_survey.go).
	commitSurvey  surveyMemo
	respondSurvey surveyMemos
	// resultsSurvey holds the surveys GetResults read, resultsCache what it computed
	// (results_cache.go).
	resultsSurvey surveyMemos
	resultsCache  resultsCache
	// resultsFromResponses makes results decode every response instead of reading the
	// store's tallies: the computation before the tallies, which tests compare them with.
	resultsFromResponses atomic.Bool
	// marks are the markers shared with the other replicas; nil with one replica (replicas.go).
	marks *marks.Marks
	// peers are the other replicas, whose tallies GetResults adds; nil with one replica
	// (results_replicas.go).
	peers      *peers.Peers
	remoteMemo remoteMemo
	// config is the survey definitions shared with the other replicas; nil with one replica
	// (sharedconfig.go).
	config *sharedConfig
	// afterClaim, in tests, runs after a claim is taken: an error leaves the claim held, as a
	// replica that died before its commit would.
	afterClaim atomic.Pointer[func() error]
}

// Start opens the store, connects to NATS (the outbox relay starts with it) and serves gRPC.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h, err := host.New(ctx, host.Config{
		Name:       pulsev1.PulseService_ServiceDesc.ServiceName,
		Store:      "pulse",
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
	s := &Service{cfg: cfg, host: h, commit: groupcommit.New(h.DB, 0)}
	// The relay's deletions share the committer's commits instead of taking fsyncs of their own.
	h.Outbox.WriteThrough(s.commit)
	// A store of an older schema is migrated here; the segment entries it holds are announced
	// through the outbox, which the host opened on the same file.
	if err := store.Init(h.DB, s.v1()); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startMarks(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startConfig(); err != nil { // replicas: surveys shared through NATS, caught up before serving
		s.Close()
		return nil, err
	}
	if err := s.tick(cfg.Now()); err != nil {
		s.Close()
		return nil, fmt.Errorf("pulse: first scheduling pass: %w", err)
	}
	if err := s.startPeers(); err != nil { // replicas: results count every replica's answers
		s.Close()
		return nil, err
	}
	h.Go(s.schedule)
	h.Go(s.releaseLoop) // survey comments, after their day (loop.go)
	if err := s.startPlanNews(); err != nil {
		s.Close()
		return nil, err
	}
	pulsev1.RegisterPulseServiceServer(h.GRPC(), &api{svc: s})
	h.Serve()
	return s, nil
}

// Addr is the gRPC address the service listens on.
func (s *Service) Addr() string { return s.host.Addr() }

// Close stops serving and closes NATS and the store. Committed responses are on disk, and their
// events are either published or still in the outbox for the next start.
func (s *Service) Close() error {
	err := s.host.Close() // stops gRPC first: no response is waiting for the committer after it
	s.commit.Close()
	return err
}
