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
	// Name of the connection as the server shows it. Default: "voix".
	Name string
	// Replicas of each stream created by EnsureStreams. Default 1; use 3 on a cluster.
	Replicas int
	// Retention is how long the streams keep an event (JetStream MaxAge). 0 keeps events
	// forever. Events carry contributor tags and item ids, and JetStream stamps each with its
	// exact receive time: whoever can read the streams and holds the anonymity secret can
	// attribute the events still kept, so keep them only as long as consumers may lag and a
	// rebuild may need them (DefaultRetention).
	Retention time.Duration
	// Log receives connection events (disconnects, reconnects, async errors). Default: discarded.
	Log *slog.Logger
	// Options are applied after voix's own, so they win (tests use them for
	// nats.InProcessServer or an ErrorHandler).
	Options []nats.Option
}

// Bus is a NATS connection with its JetStream context.
type Bus struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	replicas  int
	retention time.Duration
}

// Connect dials NATS. The connection reconnects forever: a NATS restart must not kill a
// service, whose outbox keeps its events meanwhile. The reconnect buffer is disabled so that a
// publish during an outage fails at once (the outbox retries it) rather than being flushed
// later, possibly after the duplicate window, behind the relay's back.
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
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
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
	opts = append(opts, cfg.Options...)

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URL, err)
	}
	// nats.Connect takes no context; run it aside so a cancelled ctx returns promptly.
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(cfg.URL, opts...)
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
		return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URL, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URL, r.err)
	}
	// Async publishes (PublishBatch) whose ack never comes expire instead of piling up.
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncTimeout(PublishTimeout))
	if err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return &Bus{nc: r.nc, js: js, replicas: cfg.Replicas, retention: cfg.Retention}, nil
}

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
		})
	}
	return out
}

// EnsureStreams creates the streams, or updates them to this configuration. Every service
// calls it at start, so the order in which services start does not matter.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, sc := range StreamConfigs(b.replicas, b.retention) {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("bus: ensure stream %s (%s): %w", sc.Name, sc.Subjects[0], err)
		}
	}
	return nil
}
