package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

// logBuffer is a log sink that tests read while the client writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines are the log lines whose message is msg.
func (b *logBuffer) lines(msg string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, fmt.Sprintf("msg=%q", msg)) || strings.Contains(l, "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// exactlyOnce checks that msg was logged once, naming the redacted url.
func exactlyOnce(logs *logBuffer, msg, url string) error {
	got := logs.lines(msg)
	if len(got) != 1 {
		return fmt.Errorf("%d lines %q, want 1; log:\n%s", len(got), msg, logs)
	}
	if !strings.Contains(got[0], "url="+url) {
		return fmt.Errorf("line %q does not name url=%s", got[0], url)
	}
	return nil
}

// TestConnectWhileNATSIsDown: a service starts while NATS is away. Connect does not fail; the
// bus connects once the server is there, says so once, and works.
func TestConnectWhileNATSIsDown(t *testing.T) {
	s := natstest.Start(t)
	dir, port := natstest.StoreDir(t, s), natstest.Port(t, s)
	natstest.Stop(s)

	logs := &logBuffer{}
	ctx := context.Background()
	u := fmt.Sprintf("nats://127.0.0.1:%d", port)
	b, err := bus.Connect(ctx, bus.Config{URL: u, Log: logs.logger(), Options: []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}})
	if err != nil {
		t.Fatalf("connect with NATS down: %v, want a bus that connects later", err)
	}
	defer b.Close()
	if b.Connected() {
		t.Fatal("Connected with NATS down")
	}
	if got := logs.lines("nats unreachable; serving without it and reconnecting in the background"); len(got) != 1 || !strings.Contains(got[0], "url="+u) {
		t.Fatalf("unreachable at start logged as %q; log:\n%s", got, logs)
	}
	if err := b.Publish(ctx, testEvent("while-down")); err == nil {
		t.Fatal("publish with NATS down succeeded")
	}

	natstest.StartAt(t, dir, port)
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !b.Connected() {
			return fmt.Errorf("not connected")
		}
		return exactlyOnce(logs, "nats connected", u)
	})
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("ensure streams once connected: %v", err)
	}
	if err := b.Publish(ctx, testEvent("after")); err != nil {
		t.Fatalf("publish once connected: %v", err)
	}
}

// TestConnectRefusedFails: a server that answers and refuses the credentials is an error at
// once; retrying would not help, and the operator must hear of it.
func TestConnectRefusedFails(t *testing.T) {
	s := natstest.Start(t, embednats.User{Name: "svc", Password: "right"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), User: "svc", Password: "wrong"})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("connect with a wrong password: %v, want an authorization error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error %q shows the password", err)
	}
	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), User: "svc", Password: "right"})
	if err != nil {
		t.Fatalf("connect with the right password: %v", err)
	}
	b.Close()
}

// TestConnectionStateChangesAreLogged: a NATS restart logs one disconnect and one reconnect,
// Close one line, each with the server's URL and never its password.
func TestConnectionStateChangesAreLogged(t *testing.T) {
	s := natstest.Start(t, embednats.User{Name: "svc", Password: "s3cret-pw"})
	cu, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	withCreds := fmt.Sprintf("nats://svc:s3cret-pw@%s", cu.Host)
	redacted := fmt.Sprintf("nats://svc:xxxxx@%s", cu.Host)
	logs := &logBuffer{}
	b, err := bus.Connect(context.Background(), bus.Config{URL: withCreds, Log: logs.logger(), Options: []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error { return exactlyOnce(logs, "nats connected", redacted) })

	natstest.Restart(t, s, embednats.User{Name: "svc", Password: "s3cret-pw"})
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := exactlyOnce(logs, "nats disconnected; reconnecting", redacted); err != nil {
			return err
		}
		return exactlyOnce(logs, "nats reconnected", redacted)
	})
	b.Close()
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error { return exactlyOnce(logs, "nats connection closed", redacted) })
	// Close is no disconnect: still one of those.
	if err := exactlyOnce(logs, "nats disconnected; reconnecting", redacted); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Fatalf("log shows the password:\n%s", logs)
	}
}

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://svc:pw@nats:4222":                     "nats://svc:xxxxx@nats:4222",
		"nats://t0ken@nats:4222":                      "nats://xxxxx@nats:4222",
		"nats://a:1@n1:4222, tls://n2:4222,nats://n3": "nats://a:xxxxx@n1:4222,tls://n2:4222,nats://n3",
		"nats://u:p%zz@bad":                           "xxxxx@bad",
	} {
		if got := bus.RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMergeStreamConfigNeverShrinks: a service never lowers the replicas of an existing
// stream; it raises them, and a new stream gets the configured count.
func TestMergeStreamConfigNeverShrinks(t *testing.T) {
	want := bus.StreamConfigs(1, time.Hour)[0]
	for _, tc := range []struct {
		name     string
		have     *jetstream.StreamConfig
		replicas int
		wantR    int
		wantKept bool
	}{
		{"new stream", nil, 1, 1, false},
		{"new stream on a cluster", nil, 3, 3, false},
		{"operator raised it", &jetstream.StreamConfig{Replicas: 3}, 1, 3, true},
		{"same", &jetstream.StreamConfig{Replicas: 3}, 3, 3, false},
		{"service raises it", &jetstream.StreamConfig{Replicas: 1}, 3, 3, false},
		{"five kept over three", &jetstream.StreamConfig{Replicas: 5}, 3, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := want
			w.Replicas = tc.replicas
			got, kept := bus.MergeStreamConfig(tc.have, w)
			if got.Replicas != tc.wantR || kept != tc.wantKept {
				t.Fatalf("merge(have %v, want %d) = replicas %d, kept %v; want %d, %v", tc.have, tc.replicas, got.Replicas, kept, tc.wantR, tc.wantKept)
			}
			if got.Name != w.Name || got.MaxAge != w.MaxAge || got.Duplicates != w.Duplicates || got.Subjects[0] != w.Subjects[0] {
				t.Fatalf("merge changed more than replicas: %+v", got)
			}
		})
	}
}

// TestEnsureStreamsReplicas: the configured replicas reach the streams (a single node holds
// one), and asking for more than the node has fails rather than pretending.
func TestEnsureStreamsReplicas(t *testing.T) {
	s := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := b.JetStream().Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 1 {
		t.Fatalf("replicas = %d, want 1", r)
	}
	b3, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if err := b3.EnsureStreams(ctx); err == nil {
		t.Fatal("ensure streams with 3 replicas on a single node succeeded")
	}
}
