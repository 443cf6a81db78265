// Package host owns what every voix service runs on: its bbolt store, its NATS connection with
// the streams ensured and the outbox relay running, the shared anonymity secret, and its gRPC
// server behind bearer-token auth. A service builds a Host, registers its gRPC API and its
// consumers on it, then calls Serve; Close undoes all of it in reverse order.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/grpcserver"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/store"
)

// Config is what a Host needs. Paths left empty default to files under DataDir.
type Config struct {
	// Name is the gRPC service name, used in logs and health ("voix.feedback.v1.FeedbackService").
	Name string
	// Store is the service's short name ("feedback"): its bbolt file is
	// <DataDir>/<Store>/<Store>.db.
	Store string
	// Listen is the gRPC address, host:port.
	Listen string
	// DataDir holds the service's store, and by default the secret and the token hashes.
	DataDir string
	// NATS says how to reach the NATS server.
	NATS bus.Config
	// TokensFile holds token hashes (auth.TokenFile). Default <DataDir>/auth/token-hashes.json.
	TokensFile string
	// Secret is where the anonymity secret shared by all services of the deployment is; its
	// File defaults to <DataDir>/secret.key. A missing file is an error unless Secret.Create.
	Secret anonymity.SecretSource
	// Policy lists the roles allowed on each RPC; RPCs missing from it are denied.
	Policy auth.Policy
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
}

// DefaultTokensFile and DefaultSecretFile are where a data dir keeps the shared files.
func DefaultTokensFile(dataDir string) string {
	return filepath.Join(dataDir, "auth", "token-hashes.json")
}

// DefaultSecretFile is the anonymity secret shared by the services of one data dir.
func DefaultSecretFile(dataDir string) string { return filepath.Join(dataDir, "secret.key") }

func (c *Config) defaults() error {
	if c.Name == "" || c.Store == "" {
		return errors.New("host: Name and Store are required")
	}
	if c.DataDir == "" {
		return errors.New("host: DataDir is required")
	}
	if c.Listen == "" {
		return errors.New("host: Listen is required (host:port)")
	}
	if c.TokensFile == "" {
		c.TokensFile = DefaultTokensFile(c.DataDir)
	}
	if c.Secret.File == "" {
		c.Secret.File = DefaultSecretFile(c.DataDir)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Host is a running service's runtime. Its fields are ready to use once New returns.
type Host struct {
	DB     *bolt.DB
	Bus    *bus.Bus
	Outbox *outbox.Outbox
	Secret *anonymity.Secret
	Log    *slog.Logger

	cfg          Config
	srv          *grpcserver.Server
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	mu           sync.Mutex // guards consumers and consumerCfgs
	consumers    []*consumer.Consumer
	consumerCfgs []consumer.Config
	closeOnce    sync.Once
}

// New opens the store, loads the secret and the tokens, connects to NATS, ensures the streams,
// starts the outbox relay and binds the gRPC listener. Nothing is served until Serve.
func New(ctx context.Context, cfg Config) (_ *Host, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, Log: cfg.Log.With("service", cfg.Store)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			h.Close()
		}
	}()

	h.Secret, err = cfg.Secret.Load()
	if err != nil {
		return nil, err
	}
	tokens, err := auth.LoadTokens(cfg.TokensFile)
	if err != nil {
		return nil, err
	}
	h.DB, err = store.Open(filepath.Join(cfg.DataDir, cfg.Store, cfg.Store+".db"))
	if err != nil {
		return nil, err
	}
	if cfg.NATS.Name == "" {
		cfg.NATS.Name = "voix-" + cfg.Store
	}
	h.Bus, err = bus.Connect(ctx, cfg.NATS)
	if err != nil {
		return nil, err
	}
	if err := h.Bus.EnsureStreams(ctx); err != nil {
		return nil, err
	}
	h.Outbox, err = outbox.New(h.DB, h.Bus, h.Log)
	if err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.Outbox.Run(h.ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.Log.Error("outbox relay stopped", "err", err)
		}
	}()
	h.srv, err = grpcserver.New(grpcserver.Config{
		Name:   cfg.Name,
		Listen: cfg.Listen,
		Log:    h.Log,
		Auth:   auth.New(tokens, cfg.Policy),
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// GRPC is the server to register the service's API on, before Serve.
func (h *Host) GRPC() *grpc.Server { return h.srv.GRPC() }

// Consume starts a durable consumer whose handler runs in the same bbolt transaction that
// records the event id. The consumer stops with the Host.
func (h *Host) Consume(cfg consumer.Config) error {
	cfg.DB = h.DB
	if cfg.Log == nil {
		cfg.Log = h.Log
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := consumer.Start(h.ctx, h.Bus.JetStream(), cfg)
	if err != nil {
		return fmt.Errorf("start consumer %s: %w", cfg.Durable, err)
	}
	h.consumers = append(h.consumers, c)
	h.consumerCfgs = append(h.consumerCfgs, cfg)
	return nil
}

// Paused runs fn with every consumer stopped, then starts them again: a replay that writes the
// same aggregates (a rebuild) must not interleave with live events. Messages a consumer had
// buffered but not applied are redelivered after their AckWait.
func (h *Host) Paused(fn func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.consumers {
		c.Stop()
	}
	fnErr := fn()
	var errs []error
	for i, cfg := range h.consumerCfgs {
		c, err := consumer.Start(h.ctx, h.Bus.JetStream(), cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("restart consumer %s: %w", cfg.Durable, err))
			continue
		}
		h.consumers[i] = c
	}
	return errors.Join(append([]error{fnErr}, errs...)...)
}

// Go runs fn in the background until the Host closes; fn must return when ctx is done.
func (h *Host) Go(fn func(ctx context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn(h.ctx)
	}()
}

// Serve starts serving gRPC in the background.
func (h *Host) Serve() {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.srv.Serve(); err != nil {
			h.Log.Error("grpc server stopped", "err", err)
		}
	}()
}

// Addr is the gRPC listen address, with the real port when ":0" was asked.
func (h *Host) Addr() string { return h.srv.Addr() }

// Close stops serving (gracefully, up to five seconds), stops consumers and the relay, and
// closes NATS and the store. It is safe to call more than once.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		if h.srv != nil {
			h.srv.Stop(5 * time.Second)
		}
		h.mu.Lock()
		for _, c := range h.consumers {
			c.Stop()
		}
		h.mu.Unlock()
		h.cancel()
		h.wg.Wait()
		if h.Bus != nil {
			h.Bus.Close()
		}
		if h.DB != nil {
			err = h.DB.Close()
		}
	})
	return err
}
