// Package feedback is the anonymous feedback service: an employee speaks up through a bot or an
// app, the comment is scrubbed and stored without anything that says who wrote it, and the
// author keeps a secret follow-up token as their only handle on the thread.
//
// This package holds the gRPC face (validation, authorisation, proto mapping) and the submit
// path; the bbolt layout is in internal/store. The workflow, threads, routing, upvotes, loop
// statistics and the comment-threshold display rule come with the feedback workflow issue.
package feedback

import (
	"context"
	"errors"
	"log/slog"
	"time"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/host"
)

// DefaultListen is the feedback service's gRPC address in DESIGN.md.
const DefaultListen = "127.0.0.1:7102"

// DefaultIdempotencyTTL is how long a SubmitFeedback idempotency key is remembered: long
// enough for any bot's retries, short enough that the record (a keyed hash of the author
// scoped to the key) does not outlive them.
const DefaultIdempotencyTTL = 24 * time.Hour

// Config configures the service. Zero values take the documented defaults.
type Config struct {
	// Listen is the gRPC address, host:port. Default DefaultListen; "127.0.0.1:0" picks a port.
	Listen string
	// DataDir holds the store in DataDir/feedback/feedback.db. Required.
	DataDir string
	// NATS says how to reach NATS. URL required.
	NATS bus.Config
	// TokensFile and SecretFile default to the host's files under DataDir.
	TokensFile, SecretFile string
	// IdempotencyTTL is how long an idempotency key is remembered. Default DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		return errors.New("feedback: DataDir is required")
	}
	if c.NATS.URL == "" {
		return errors.New("feedback: NATS.URL is required (e.g. nats://127.0.0.1:4222)")
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.IdempotencyTTL < time.Minute {
		return errors.New("feedback: IdempotencyTTL must be at least a minute: bots retry for longer")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Service is a running feedback service.
type Service struct {
	cfg  Config
	host *host.Host
}

// Start opens the store, connects to NATS (the outbox relay starts with it) and serves gRPC.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h, err := host.New(ctx, host.Config{
		Name:       feedbackv1.FeedbackService_ServiceDesc.ServiceName,
		Store:      "feedback",
		Listen:     cfg.Listen,
		DataDir:    cfg.DataDir,
		NATS:       cfg.NATS,
		TokensFile: cfg.TokensFile,
		SecretFile: cfg.SecretFile,
		Policy:     policy,
		Log:        cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	if err := store.Init(h.DB); err != nil {
		h.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, host: h}
	feedbackv1.RegisterFeedbackServiceServer(h.GRPC(), &api{svc: s})
	h.Go(s.pruneLoop)
	h.Serve()
	return s, nil
}

// Addr is the gRPC address the service listens on.
func (s *Service) Addr() string { return s.host.Addr() }

// Close stops serving and closes NATS and the store. Committed comments are on disk, and their
// events are either published or still in the outbox for the next start.
func (s *Service) Close() error { return s.host.Close() }

// pruneLoop deletes expired idempotency records now and then: each is a keyed hash of an author
// that should not outlive the retries it exists for.
func (s *Service) pruneLoop(ctx context.Context) {
	const every, batch = 10 * time.Minute, 10_000
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			n, err := store.PruneIdempotency(s.host.DB, s.cfg.Now(), batch)
			if err != nil {
				s.host.Log.Error("prune idempotency records", "err", err)
			}
			if err != nil || n < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
