// Package host owns what every voix service runs on: its bbolt store, its NATS connection with
// the streams ensured and the outbox relay running, the shared anonymity secret, and its gRPC
// server behind bearer-token auth. A service builds a Host, registers its gRPC API and its
// consumers on it, then calls Serve; Close undoes all of it in reverse order.
//
// NATS may be away when a service starts, or go away later: the Host starts anyway and serves
// from its store, writes keep going to the outbox (published once NATS is back), and the
// streams and consumers are set up in the background as soon as NATS answers, retrying with
// backoff. Each change of that state is logged once.
package host

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/grpcserver"
	"github.com/voix-dev/voix/services/platform/metrics"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/store"
	"github.com/voix-dev/voix/services/platform/tracing"
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
	// Log receives structured logs. Default: discarded. The Host adds service=<Store> to
	// every line, and drops any other service attribute a line would carry.
	Log *slog.Logger
	// MaxStreams caps the concurrent gRPC streams (calls) of one client connection. Default
	// DefaultMaxStreams; a client that opens more waits for one to end.
	MaxStreams uint32
	// MaxRecvMsgSize caps the size of one gRPC request message, in bytes. Default
	// DefaultMaxRecvMsgSize; a larger request fails with ResourceExhausted.
	MaxRecvMsgSize int
	// Ops is how the service is operated: TLS, token reloads, per-token limits, metrics.
	Ops Ops
}

// Ops are the operator's settings every service takes alike (config.Service.Ops builds them
// from flags). The zero value serves plain gRPC, reloads the token file every second, caps
// nothing per token and serves no metrics.
type Ops struct {
	// TLS, when set, makes the gRPC server speak TLS only; with ClientCAs and
	// RequireAndVerifyClientCert it demands client certificates (mutual TLS).
	TLS *tls.Config
	// TokenReload is how often the token file is looked at: a token removed from it (voix
	// token revoke) is refused within about this long, without a restart. Default
	// auth.DefaultReloadInterval; negative: never reloaded.
	TokenReload time.Duration
	// MaxStreamsPerToken caps the streaming calls (WatchSentiment) the tokens of one name hold
	// open at once on this server (auth.MaxStreamsPerToken). 0: no cap.
	MaxStreamsPerToken int
	// MetricsListen, when set, is the admin HTTP address serving /metrics (Prometheus) and
	// /debug/pprof/. Keep it off public networks: pprof shows the process's internals.
	MetricsListen string
	// OTLPEndpoint, when set, is the OTLP/gRPC collector (host:port) the gRPC server's spans
	// go to (tracing.Config); OTLPInsecure sends them without TLS. Default: no tracing.
	OTLPEndpoint string
	OTLPInsecure bool
}

// Limits of the gRPC server, per client connection. gRPC's own defaults are no cap on
// streams and 4 MiB per message: one connection could hold thousands of WatchSentiment
// streams, each with a buffer of its own. The largest request voix expects is a CreateSurvey
// with its question bank, far below a MiB.
const (
	DefaultMaxStreams     = 1000
	DefaultMaxRecvMsgSize = 1 << 20
)

// Backoff of the background setup (streams, consumers) while NATS is away or refuses.
const (
	setupMinBackoff = 100 * time.Millisecond
	setupMaxBackoff = 5 * time.Second
	// setupTimeout bounds one attempt at ensuring the streams.
	setupTimeout = 10 * time.Second
)

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
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxRecvMsgSize < 0 {
		return errors.New("host: MaxRecvMsgSize must be positive")
	}
	return nil
}

// Host is a running service's runtime. Its fields are ready to use once New returns; Bus may
// not be connected yet (Bus.Connected).
type Host struct {
	DB     *bolt.DB
	Bus    *bus.Bus
	Outbox *outbox.Outbox
	Secret *anonymity.Secret
	Log    *slog.Logger

	cfg       Config
	srv       *grpcserver.Server
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	setup     chan struct{} // wakes the background setup: a consumer to start
	closeOnce sync.Once
	// metrics, hm and admin are set when Ops.MetricsListen is (metrics.go).
	metrics *grpcprom.ServerMetrics
	hm      hostMetrics
	admin   *metrics.Admin
	tracer  *tracing.Tracer // nil without Ops.OTLPEndpoint

	mu sync.Mutex // guards what follows
	// streams is true once the streams are ensured.
	streams bool
	// consumerCfgs are the consumers the service asked for; consumers[i] runs consumerCfgs[i],
	// or is nil until the background setup starts it.
	consumerCfgs []consumer.Config
	consumers    []*consumer.Consumer
	closing      bool
	// writer is what consumers commit through when their Config names none (WriteThrough).
	writer consumer.Writer
}

// WriteThrough makes the outbox relay's deletions, and the consumers registered with Consume
// after it (unless their Config names a Writer), commit through w, a group committer
// (platform/groupcommit) shared with the service's own writes: they then ride in its commits
// instead of holding the store's writer lock, and taking two fsyncs, between them. Their
// functions may run more than once (consumer.Config.Writer).
func (h *Host) WriteThrough(w consumer.Writer) {
	h.Outbox.WriteThrough(w)
	h.mu.Lock()
	h.writer = w
	h.mu.Unlock()
}

// New opens the store, loads the secret and the tokens, connects to NATS, ensures the streams,
// starts the outbox relay and binds the gRPC listener. Nothing is served until Serve. NATS
// that cannot be reached is no error: the streams, and the consumers registered with Consume,
// are set up in the background once it answers. A NATS server that refuses the connection
// (credentials) is an error.
func New(ctx context.Context, cfg Config) (_ *Host, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h := &Host{
		cfg:   cfg,
		Log:   slog.New(uniqueKeys{Handler: cfg.Log.Handler()}).With("service", cfg.Store),
		setup: make(chan struct{}, 1),
	}
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
	if cfg.NATS.Log == nil {
		cfg.NATS.Log = h.Log
	}
	h.Bus, err = bus.Connect(ctx, cfg.NATS)
	if err != nil {
		return nil, err
	}
	// NATS up: the streams are there before New returns, as consumers and tests expect.
	// Otherwise, or if that fails, the background setup retries.
	if h.Bus.Connected() {
		if err := h.ensureStreams(ctx); err != nil {
			h.Log.Warn("nats streams not ensured at start; retrying in the background", "err", err)
		}
	}
	h.Outbox, err = outbox.New(h.DB, h.Bus, h.Log)
	if err != nil {
		return nil, err
	}
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		if err := h.Outbox.Run(h.ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.Log.Error("outbox relay stopped", "err", err)
		}
	}()
	go func() {
		defer h.wg.Done()
		h.setupLoop(h.ctx)
	}()
	if cfg.Ops.TokenReload >= 0 {
		h.Go(func(ctx context.Context) { tokens.Watch(ctx, cfg.Ops.TokenReload, h.Log) })
	}
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
	}
	if cfg.Ops.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.Ops.TLS)))
	}
	h.tracer, err = tracing.New(ctx, tracing.Config{Endpoint: cfg.Ops.OTLPEndpoint, Insecure: cfg.Ops.OTLPInsecure, Service: "voix-" + cfg.Store})
	if err != nil {
		return nil, err
	}
	opts = append(opts, h.tracer.ServerOption()...)
	gcfg := grpcserver.Config{
		Name:    cfg.Name,
		Listen:  cfg.Listen,
		Log:     h.Log,
		Auth:    auth.New(tokens, cfg.Policy, auth.MaxStreamsPerToken(cfg.Ops.MaxStreamsPerToken)),
		Options: opts,
	}
	if err := h.startMetrics(&gcfg); err != nil {
		return nil, err
	}
	h.srv, err = grpcserver.New(gcfg)
	if err != nil {
		return nil, err
	}
	h.Log.Info("grpc listener ready", "addr", h.srv.Addr(), "tls", tlsMode(cfg.Ops.TLS))
	return h, nil
}

// tlsMode says how the gRPC listener is protected, for the start-up log.
func tlsMode(c *tls.Config) string {
	switch {
	case c == nil:
		return "off (plain gRPC)"
	case c.ClientAuth == tls.RequireAndVerifyClientCert:
		return "mutual (client certificates required)"
	default:
		return "on"
	}
}

// ensureStreams ensures the streams once per Host: consumers start only after it.
func (h *Host) ensureStreams(ctx context.Context) error {
	h.mu.Lock()
	done := h.streams
	h.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := h.Bus.EnsureStreams(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	h.streams = true
	h.mu.Unlock()
	h.Log.Info("nats streams ensured")
	return nil
}

// errNATSDown is the setup's state while the connection is down (the bus logs why).
var errNATSDown = errors.New("nats not connected")

// setupLoop ensures the streams and starts the consumers not running yet, whenever there is
// something to do, until ctx is done. A failure is retried with a capped exponential backoff;
// it is logged when it differs from the last failure logged, and the end of the trouble is
// logged once.
func (h *Host) setupLoop(ctx context.Context) {
	backoff := time.Duration(0)
	lastErr := ""
	for {
		err := h.setupOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		var t *time.Timer
		var wait <-chan time.Time
		if err != nil {
			if msg := err.Error(); msg != lastErr {
				if errors.Is(err, errNATSDown) {
					h.Log.Info("waiting for nats: streams and consumers start once it answers")
				} else {
					h.Log.Warn("nats setup failed; retrying", "err", err)
				}
				lastErr = msg
			}
			backoff = min(max(2*backoff, setupMinBackoff), setupMaxBackoff)
			if errors.Is(err, errNATSDown) {
				backoff = bus.ReconnectWait
			}
			t = time.NewTimer(backoff)
			wait = t.C
		} else {
			if lastErr != "" {
				h.Log.Info("nats setup done: streams ensured, consumers running")
			}
			lastErr, backoff = "", 0
		}
		select {
		case <-ctx.Done():
		case <-h.setup:
		case <-wait:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// setupOnce ensures the streams and starts every consumer not running yet.
func (h *Host) setupOnce(ctx context.Context) error {
	h.mu.Lock()
	idle := h.streams
	for _, c := range h.consumers {
		idle = idle && c != nil
	}
	h.mu.Unlock()
	if idle {
		return nil
	}
	if !h.Bus.Connected() {
		return errNATSDown
	}
	if err := h.ensureStreams(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for i := range h.consumerCfgs {
		if h.closing || ctx.Err() != nil {
			return nil
		}
		if h.consumers[i] != nil {
			continue
		}
		c, err := h.startConsumer(h.consumerCfgs[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.consumers[i] = c
	}
	return errors.Join(errs...)
}

// startConsumer starts one consumer, with h.mu held. It runs until the Host closes; its
// creation on the server is bounded by JetStream's default API timeout.
func (h *Host) startConsumer(cfg consumer.Config) (*consumer.Consumer, error) {
	c, err := consumer.Start(h.ctx, h.Bus.JetStream(), cfg)
	if err != nil {
		return nil, fmt.Errorf("start consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

func (h *Host) wake() {
	select {
	case h.setup <- struct{}{}:
	default:
	}
}

// GRPC is the server to register the service's API on, before Serve.
func (h *Host) GRPC() *grpc.Server { return h.srv.GRPC() }

// Consume registers a durable consumer whose handler runs in the same bbolt transaction that
// records the event id, and starts it: at once when NATS is up, else in the background as soon
// as it answers (the durable then delivers what the stream kept meanwhile). Only a Config that
// can never start is an error. The consumer stops with the Host.
func (h *Host) Consume(cfg consumer.Config) error {
	cfg.DB = h.DB
	if cfg.Log == nil {
		cfg.Log = h.Log
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	cfg = h.countApplied(cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return fmt.Errorf("start consumer %s: host closed", cfg.Durable)
	}
	if cfg.Writer == nil {
		cfg.Writer = h.writer
	}
	var c *consumer.Consumer
	if h.streams && h.Bus.Connected() {
		var err error
		if c, err = h.startConsumer(cfg); err != nil {
			h.Log.Warn("consumer not started; retrying in the background", "consumer", cfg.Durable, "err", err)
		}
	}
	h.consumerCfgs = append(h.consumerCfgs, cfg)
	h.consumers = append(h.consumers, c)
	if c == nil {
		h.wake()
	}
	return nil
}

// Paused runs fn with every consumer stopped, then starts them again: a replay that writes the
// same aggregates (a rebuild) must not interleave with live events. Messages a consumer had
// buffered but not applied are redelivered after their AckWait. A consumer that does not
// start again is an error, and the background setup keeps trying to start it.
func (h *Host) Paused(fn func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.consumers {
		if c != nil {
			c.Stop()
		}
	}
	fnErr := fn()
	if h.closing {
		return fnErr
	}
	var errs []error
	for i, cfg := range h.consumerCfgs {
		c, err := h.startConsumer(cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("restart consumer %s (retrying in the background): %w", cfg.Durable, err))
			h.wake()
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
	if h.metrics != nil {
		h.metrics.InitializeMetrics(h.srv.GRPC()) // every method shows, from zero
	}
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
		h.closing = true
		for _, c := range h.consumers {
			if c != nil {
				c.Stop()
			}
		}
		h.mu.Unlock()
		h.cancel()
		h.wg.Wait()
		if h.admin != nil {
			h.admin.Close()
		}
		if h.tracer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := h.tracer.Shutdown(ctx); err != nil {
				h.Log.Warn("traces not flushed", "err", err)
			}
			cancel()
		}
		if h.Bus != nil {
			h.Bus.Close()
		}
		if h.DB != nil {
			err = h.DB.Close()
		}
	})
	return err
}

// uniqueKeys drops from a record the attributes whose key the logger already carries at the
// top level: the Host adds service=<Store> to every line, and grpcserver adds
// service=<gRPC name> to a few of its own; a line must not say service= twice.
type uniqueKeys struct {
	slog.Handler
	keys map[string]bool
}

func (u uniqueKeys) WithAttrs(attrs []slog.Attr) slog.Handler {
	keys := make(map[string]bool, len(u.keys)+len(attrs))
	for k := range u.keys {
		keys[k] = true
	}
	for _, a := range attrs {
		keys[a.Key] = true
	}
	return uniqueKeys{Handler: u.Handler.WithAttrs(attrs), keys: keys}
}

// WithGroup opens a group: keys inside it do not clash with those at the top level.
func (u uniqueKeys) WithGroup(name string) slog.Handler { return u.Handler.WithGroup(name) }

func (u uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		dup = u.keys[a.Key]
		return !dup
	})
	if !dup {
		return u.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !u.keys[a.Key] {
			out.AddAttrs(a)
		}
		return true
	})
	return u.Handler.Handle(ctx, out)
}
