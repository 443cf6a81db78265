// Package natstest starts real NATS servers for tests, in the spirit of net/http/httptest:
// an embedded server with JetStream on a free loopback port, its store in t.TempDir(), stopped
// in t.Cleanup; a way to restart it on the same store (crash and outage tests); and a bus
// connected to it with the voix streams in place.
package natstest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
)

// Start starts a server with JetStream on a random loopback port. With users, authentication
// is required (see embednats.User). It shuts down in t.Cleanup.
func Start(t testing.TB, users ...embednats.User) *server.Server {
	t.Helper()
	return start(t, t.TempDir(), -1, users)
}

// Restart shuts s down and starts a new server on the same store directory and port, so
// streams, messages and durable consumers survive, and clients reconnect to the same URL.
// Pass the users s was started with. The new server shuts down in t.Cleanup.
func Restart(t testing.TB, s *server.Server, users ...embednats.User) *server.Server {
	t.Helper()
	dir, port := StoreDir(t, s), Port(t, s)
	Stop(s)
	return start(t, dir, port, users)
}

// Stop shuts s down and waits until it is down, e.g. to test a NATS outage. Restart needs the
// server running: to bring it back after Stop, use StartAt.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// StartAt starts a server on a given store directory and port: the second half of a Restart,
// for tests that keep the server down a while. Get dir and port before stopping with
// StoreDir(s) and Port(s).
func StartAt(t testing.TB, dir string, port int, users ...embednats.User) *server.Server {
	t.Helper()
	return start(t, dir, port, users)
}

// StoreDir is the directory s was started on (what StartAt takes).
func StoreDir(t testing.TB, s *server.Server) string {
	t.Helper()
	js := s.StoreDir() // <dir>/jetstream
	if js == "" {
		t.Fatalf("natstest: server has no JetStream store (already shut down?)")
	}
	return filepath.Dir(js)
}

// Port is the client port of s.
func Port(t testing.TB, s *server.Server) int {
	t.Helper()
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("natstest: server has no TCP listener")
	}
	return addr.Port
}

func start(t testing.TB, dir string, port int, users []embednats.User) *server.Server {
	t.Helper()
	s, err := embednats.Start(embednats.Config{Port: port, StoreDir: dir, Users: users})
	if err != nil {
		t.Fatalf("natstest: start server on port %d, store %s: %v", port, dir, err)
	}
	t.Cleanup(func() { Stop(s) })
	return s
}

// Connect connects a bus to s (reconnecting quickly, for restart tests), ensures the voix
// streams, and closes it in t.Cleanup. Pass nats.UserInfo when s requires authentication.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{
		URL:     s.ClientURL(),
		Name:    t.Name(),
		Options: append([]nats.Option{nats.ReconnectWait(20 * time.Millisecond)}, opts...),
	})
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(b.Close)
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("natstest: ensure streams: %v", err)
	}
	return b
}
