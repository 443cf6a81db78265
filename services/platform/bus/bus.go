// Package bus owns voix's connection to NATS JetStream: the connection settings every service
// shares, the streams of the event contract (package events) with their limits, and the event envelope (a protobuf payload
// with its id in Nats-Msg-Id and CloudEvents binary-mode headers). Publishing directly is for
// the outbox relay; services write events through package outbox so that an event exists if
// and only if the transaction that caused it committed.
package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/events"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. A relay that republishes an
// event within it (after a crash between the ack and the delete) stores nothing new.
const DuplicateWindow = 2 * time.Minute

// DefaultRetention is the retention the commands use: long enough for a consumer down over a
// long weekend or a rebuild after a bad release, short enough that events do not become an
// archive of who said what, when.
const DefaultRetention = 30 * 24 * time.Hour

// ReconnectWait is the pause between reconnect attempts (plus the client's jitter).
const ReconnectWait = 250 * time.Millisecond

// Config says how to reach NATS.
type Config struct {
	// URL of the server, or a comma-separated list ("nats://127.0.0.1:4222"). Required.
	URL string
	// User and Password, when the server requires them. Default: none.
	User, Password string
	// CredsFile is a NATS credentials file (a user JWT and its nkey seed), for servers run
	// in operator mode, instead of User and Password. Default: none.
	CredsFile string
	// TLSCA is the PEM file of the CAs that sign the server's certificate; set, the client
	// requires TLS. TLSCert and TLSKey are the client's certificate, for a server that
	// verifies clients. Default: the system's CAs, used when the URL is tls://.
	TLSCA, TLSCert, TLSKey string
	// Name of the connection as the server shows it. Default: "voix".
	Name string
	// Replicas of each stream created by EnsureStreams. Default 1; use 3 on a cluster.
	// EnsureStreams never lowers the replicas of an existing stream: a count an operator
	// raised on the server is kept (see MergeStreamConfig).
	Replicas int
	// Retention is how long the streams keep an event (JetStream MaxAge). 0 keeps events
	// forever. Events carry contributor tags and item ids, and JetStream stamps each with its
	// exact receive time: whoever can read the streams and holds the anonymity secret can
	// attribute the events still kept, so keep them only as long as consumers may lag and a
	// rebuild may need them (DefaultRetention).
	Retention time.Duration
	// Log receives connection events, each state change once (connected, disconnected,
	// reconnected, closed, with the server URL redacted), async errors, and streams whose
	// larger replica count EnsureStreams kept. Default: discarded.
	Log *slog.Logger
	// Options are applied after voix's own, so they win (tests use them for
	// nats.InProcessServer or an ErrorHandler).
	Options []nats.Option
}

// Bus is a NATS connection with its JetStream context.
type Bus struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	log       *slog.Logger
	replicas  int
	retention time.Duration
}

// Connect dials NATS. The connection reconnects forever: a NATS restart must not kill a
// service, whose outbox keeps its events meanwhile. The reconnect buffer is disabled so that a
// publish during an outage fails at once (the outbox retries it) rather than being flushed
// later, possibly after the duplicate window, behind the relay's back.
//
// A server that cannot be reached at all (refused, timed out, no such host) is not an error
// either: Connect returns a Bus that is not yet connected (Connected reports false) and keeps
// dialling in the background, so a service can start and serve from its store while NATS is
// away. A server that answers and refuses the connection (bad credentials, TLS mismatch) is
// an error: retrying would not help.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.URL == "" {
		return nil, errors.New("bus: Config.URL is required (e.g. nats://127.0.0.1:4222)")
	}
	if cfg.Name == "" {
		cfg.Name = "voix"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("nats", cfg.Name)
	st := &connState{log: log, configured: RedactURLs(cfg.URL)}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(st.connected),
		nats.DisconnectErrHandler(st.disconnected),
		nats.ReconnectHandler(st.reconnected),
		nats.ReconnectErrHandler(st.attemptFailed),
		nats.ClosedHandler(st.closed),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	opts = append(opts, cfg.Options...)

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", st.configured, err)
	}
	// nats.Connect takes no context; run it aside so a cancelled ctx returns promptly.
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// First without retrying, to tell a server that refuses us (fail now) from one that
		// cannot be reached (retry in the background); then, if unreachable, with
		// RetryOnFailedConnect, which returns at once with the connection reconnecting.
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil && Unreachable(err) && ctx.Err() == nil {
			st.unreachableAtStart(err)
			nc, err = nats.Connect(cfg.URL, append(opts, nats.RetryOnFailedConnect(true))...)
		}
		done <- result{nc, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("bus: connect to %s: %w", st.configured, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", st.configured, r.err)
	}
	// Async publishes (PublishBatch) whose ack never comes expire instead of piling up.
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncTimeout(PublishTimeout))
	if err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return &Bus{nc: r.nc, js: js, log: log, replicas: cfg.Replicas, retention: cfg.Retention}, nil
}

// Unreachable reports whether err, from a first connection attempt, means that no server
// could be reached (nothing listening, a timeout, a name that does not resolve yet), as
// opposed to a server that answered and refused (authorization, TLS).
func Unreachable(err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout), errors.Is(err, io.EOF),
		errors.As(err, &dnsErr), errors.As(err, &netErr):
		return true
	}
	return false
}

// connState logs each change of the connection's state once, with the server's URL
// (credentials redacted). nats.go calls the handlers one at a time, in order.
type connState struct {
	log        *slog.Logger
	configured string // the configured URL(s), redacted

	mu  sync.Mutex
	url string // the server last connected to, redacted
}

func (s *connState) unreachableAtStart(err error) {
	s.log.Warn("nats unreachable; serving without it and reconnecting in the background", "url", s.configured, "err", err)
}

func (s *connState) connected(nc *nats.Conn) {
	u := RedactURLs(nc.ConnectedUrl())
	s.mu.Lock()
	s.url = u
	s.mu.Unlock()
	s.log.Info("nats connected", "url", u)
}

func (s *connState) reconnected(nc *nats.Conn) {
	u := RedactURLs(nc.ConnectedUrl())
	s.mu.Lock()
	s.url = u
	s.mu.Unlock()
	s.log.Info("nats reconnected", "url", u)
}

func (s *connState) disconnected(nc *nats.Conn, err error) {
	if nc.IsClosed() {
		return // Close: the closed handler says so
	}
	args := []any{"url", s.lastURL()}
	if err != nil {
		args = append(args, "err", err)
	}
	s.log.Warn("nats disconnected; reconnecting", args...)
}

// attemptFailed is called on every failed reconnect attempt (every ReconnectWait, per
// server). The state change was logged already (unreachable at start, or disconnected): the
// attempts are debug lines.
func (s *connState) attemptFailed(_ *nats.Conn, err error) {
	if err != nil {
		s.log.Debug("nats reconnect attempt failed; retrying", "url", s.configured, "err", err)
	}
}

func (s *connState) closed(*nats.Conn) {
	s.log.Info("nats connection closed", "url", s.lastURL())
}

// lastURL is the server last connected to, or the configured URLs before any connection.
func (s *connState) lastURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.url == "" {
		return s.configured
	}
	return s.url
}

// RedactURLs returns a comma-separated list of NATS URLs fit for logs and errors: a password
// becomes "xxxxx", and so does a user without a password, which NATS reads as a token
// (nats://<token>@host).
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil:
			if at := strings.LastIndex(p, "@"); at >= 0 {
				p = "xxxxx" + p[at:]
			}
		case u.User == nil:
		default:
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Connected reports whether the connection is up now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Conn is the underlying connection, for core subscriptions.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context, for consumers.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Close closes the connection (nats.Conn.Close flushes what is buffered; an ack lost anyway
// only means a redelivery, which consumers absorb).
func (b *Bus) Close() { b.nc.Close() }

// StreamConfigs are the streams of the event contract, keeping events for retention (0:
// forever). A new consumer, such as a sentiment rebuild, replays from the first event kept.
func StreamConfigs(replicas int, retention time.Duration) []jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	var out []jetstream.StreamConfig
	for _, st := range events.Streams() {
		out = append(out, jetstream.StreamConfig{
			Name:        st.Name,
			Description: st.Description,
			Subjects:    []string{st.Subjects},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  DuplicateWindow,
			MaxAge:      retention,
			// Outbox relays publish atomic batches: one fsync per batch (PublishAtomic).
			AllowAtomicPublish: true,
		})
	}
	return out
}

// EnsureStreams creates the streams, or updates them to this configuration. Every service
// calls it at start, so the order in which services start does not matter. A stream that
// exists with more replicas than configured keeps them (MergeStreamConfig), and that is
// logged: an operator may raise replicas on the server, and no service start may lower them.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, want := range StreamConfigs(b.replicas, b.retention) {
		var have *jetstream.StreamConfig
		switch st, err := b.js.Stream(ctx, want.Name); {
		case err == nil:
			cfg := st.CachedInfo().Config
			have = &cfg
		case errors.Is(err, jetstream.ErrStreamNotFound):
		default:
			return fmt.Errorf("bus: ensure stream %s (%s): read its configuration: %w", want.Name, want.Subjects[0], err)
		}
		sc, kept := MergeStreamConfig(have, want)
		if kept {
			b.log.Info("stream keeps the larger replica count set on the server", "stream", sc.Name,
				"replicas", sc.Replicas, "configured", want.Replicas)
		}
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("bus: ensure stream %s (%s): %w", sc.Name, sc.Subjects[0], err)
		}
	}
	return nil
}

// MergeStreamConfig is the configuration EnsureStreams applies: want, except that a stream
// that exists (have not nil) with more replicas keeps them; kept reports that case. Replicas
// are never lowered by a service: fewer copies would lose events on the next node failure,
// and an operator who raised them on a cluster meant it.
func MergeStreamConfig(have *jetstream.StreamConfig, want jetstream.StreamConfig) (sc jetstream.StreamConfig, kept bool) {
	sc = want
	if have != nil && have.Replicas > want.Replicas {
		sc.Replicas = have.Replicas
		kept = true
	}
	return sc, kept
}
