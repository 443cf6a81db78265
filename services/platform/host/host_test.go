package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const testService = "voix.test.v1.TestService"

// logBuffer is a log sink that tests read while the host writes to it.
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

// count is how many log lines have message msg.
func (b *logBuffer) count(msg string) int {
	n := 0
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, fmt.Sprintf("msg=%q ", msg)) || strings.Contains(l, "msg="+msg+" ") {
			n++
		}
	}
	return n
}

func (b *logBuffer) line(msg string) string {
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, fmt.Sprintf("msg=%q ", msg)) || strings.Contains(l, "msg="+msg+" ") {
			return l
		}
	}
	return ""
}

func newHost(t *testing.T, e *servicetest.Env, natsURL string, logs *logBuffer, change ...func(*host.Config)) *host.Host {
	t.Helper()
	cfg := host.Config{
		Name:    testService,
		Store:   "test",
		Listen:  "127.0.0.1:0",
		DataDir: e.DataDir,
		NATS:    bus.Config{URL: natsURL, Options: []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}},
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, f := range change {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func checkServing(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(dial(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{Service: testService})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health of %s: %v, %v; want SERVING", addr, resp, err)
	}
}

var applied = []byte("applied")

// TestStartsWhileNATSIsDown: a service whose NATS is away at start starts anyway, serves, and
// keeps what it writes in its outbox; once NATS is there, the streams are ensured, the
// outbox is published and the consumers start and apply it. Each step is logged once.
func TestStartsWhileNATSIsDown(t *testing.T) {
	e := servicetest.New(t)
	dir, port := natstest.StoreDir(t, e.NATS), natstest.Port(t, e.NATS)
	natsURL := e.NATS.ClientURL()
	natstest.Stop(e.NATS)

	logs := &logBuffer{}
	h := newHost(t, e, natsURL, logs)
	if h.Bus.Connected() {
		t.Fatal("bus connected with NATS down")
	}
	k := events.FeedbackSubmitted
	err := h.Consume(consumer.Config{
		Stream:         k.Stream.Name,
		Durable:        "host-test",
		FilterSubjects: []string{k.All()},
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
			b, err := tx.CreateBucketIfNotExists(applied)
			if err != nil {
				return err
			}
			return b.Put([]byte(ev.ID), nil)
		},
	})
	if err != nil {
		t.Fatalf("Consume with NATS down: %v, want it started later", err)
	}
	h.Serve()
	checkServing(t, h.Addr())

	// A write while NATS is away: committed, its event kept in the outbox.
	ev := bus.Event{ID: "host-test/1", Type: k.Type, Source: k.Source, Subject: "voix.feedback.submitted.acme", Data: []byte{1}}
	if err := h.DB.Update(func(tx *bolt.Tx) error { return h.Outbox.Add(tx, ev) }); err != nil {
		t.Fatalf("write with NATS down: %v", err)
	}
	if n, err := h.Outbox.Pending(); err != nil || n != 1 {
		t.Fatalf("outbox holds %d, %v; want 1", n, err)
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := logs.count("waiting for nats: streams and consumers start once it answers"); n != 1 {
			return fmt.Errorf("%d lines 'waiting for nats', want 1; log:\n%s", n, logs)
		}
		return nil
	})

	natstest.StartAt(t, dir, port)
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n, err := h.Outbox.Pending(); err != nil || n != 0 {
			return fmt.Errorf("outbox holds %d (%v), want 0", n, err)
		}
		return h.DB.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket(applied); b == nil || b.Get([]byte(ev.ID)) == nil {
				return errors.New("event not applied by the consumer yet")
			}
			return nil
		})
	})
	for _, msg := range []string{"nats unreachable; serving without it and reconnecting in the background", "nats connected", "nats streams ensured", "nats setup done: streams ensured, consumers running", "waiting for nats: streams and consumers start once it answers"} {
		if n := logs.count(msg); n != 1 {
			t.Errorf("%d lines %q, want 1", n, msg)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s", logs)
	}
	// The stream holds the event once.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), k.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 1 {
		t.Fatalf("stream %s holds %d messages, want 1", k.Stream.Name, got)
	}
}

// TestConsumeRefusesABadConfig: what can never start is refused at once, NATS or not.
func TestConsumeRefusesABadConfig(t *testing.T) {
	e := servicetest.New(t)
	h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{})
	if err := h.Consume(consumer.Config{Stream: events.Feedback.Name}); err == nil || !strings.Contains(err.Error(), "Durable") {
		t.Fatalf("Consume without a durable: %v, want an error naming Durable", err)
	}
}

// TestLogLinesSayServiceOnce: every line carries service=<store> once, also those where
// grpcserver names the gRPC service.
func TestLogLinesSayServiceOnce(t *testing.T) {
	e := servicetest.New(t)
	logs := &logBuffer{}
	h := newHost(t, e, e.NATS.ClientURL(), logs)
	h.Serve()
	checkServing(t, h.Addr())
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if logs.line("grpc serving") == "" {
			return errors.New("no 'grpc serving' line yet")
		}
		return nil
	})
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if n := strings.Count(l, "service="); n != 1 || !strings.Contains(l+" ", "service=test ") {
			t.Errorf("line has service= %d times, want once as service=test: %s", n, l)
		}
	}
}

// TestGRPCLimits: one connection holds at most MaxStreams calls at once, and a request larger
// than MaxRecvMsgSize is refused.
func TestGRPCLimits(t *testing.T) {
	e := servicetest.New(t)
	h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{}, func(c *host.Config) { c.MaxStreams = 2 })
	h.Serve()
	cc := dial(t, h.Addr())
	health := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	watch := func(ctx context.Context) error {
		w, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: testService})
		if err != nil {
			return err
		}
		_, err = w.Recv()
		return err
	}
	first, firstCancel := context.WithCancel(ctx)
	if err := watch(first); err != nil {
		t.Fatalf("first watch: %v", err)
	}
	if err := watch(ctx); err != nil {
		t.Fatalf("second watch: %v", err)
	}
	// A third call on the same connection waits for a stream: it is not served in time.
	short, shortCancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer shortCancel()
	if err := watch(short); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("third watch with two open: %v, want DeadlineExceeded (capped at 2 streams)", err)
	}
	// One ends: the next call is served.
	firstCancel()
	third, thirdCancel := context.WithTimeout(ctx, 10*time.Second)
	defer thirdCancel()
	if err := watch(third); err != nil {
		t.Fatalf("third watch once the first ended: %v", err)
	}

	// A request above the cap (1 MiB by default) is refused; one below is answered.
	cc2 := dial(t, h.Addr())
	big := strings.Repeat("x", host.DefaultMaxRecvMsgSize+1)
	_, err := healthpb.NewHealthClient(cc2).Check(ctx, &healthpb.HealthCheckRequest{Service: big})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("request of %d bytes: %v, want ResourceExhausted", len(big), err)
	}
	_, err = healthpb.NewHealthClient(cc2).Check(ctx, &healthpb.HealthCheckRequest{Service: big[:host.DefaultMaxRecvMsgSize-16]})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("request just below the cap: %v, want NotFound (an unknown service, answered)", err)
	}
}

// txWriter runs the host's write transactions in DB.Update, noting each one's id.
type txWriter struct {
	db  *bolt.DB
	mu  sync.Mutex
	txs map[int]bool
}

func (w *txWriter) Update(fn func(*bolt.Tx) error) error {
	return w.db.Update(func(tx *bolt.Tx) error {
		w.mu.Lock()
		w.txs[tx.ID()] = true
		w.mu.Unlock()
		return fn(tx)
	})
}

// TestWriteThroughCarriesTheConsumersApplies: after WriteThrough, a consumer registered with
// Consume applies its events through the given writer (the service's group committer), as the
// relay deletes its published records: neither holds the store's writer lock on its own.
func TestWriteThroughCarriesTheConsumersApplies(t *testing.T) {
	e := servicetest.New(t)
	h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{})
	w := &txWriter{db: h.DB, txs: map[int]bool{}}
	h.WriteThrough(w)
	var mu sync.Mutex
	appliedIn := map[string]int{} // event id -> the transaction that applied it
	err := h.Consume(consumer.Config{
		Stream:         events.Feedback.Name,
		Durable:        "test-writer",
		FilterSubjects: []string{events.FeedbackSubmitted.All()},
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
			mu.Lock()
			appliedIn[ev.ID] = tx.ID()
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		err := h.DB.Update(func(tx *bolt.Tx) error {
			return h.Outbox.Add(tx, bus.Event{ID: fmt.Sprint("ev", i), Type: events.FeedbackSubmitted.Type, Source: events.FeedbackSubmitted.Source,
				Subject: events.FeedbackSubmitted.Prefix + ".acme", Data: []byte("x")})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 15*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(appliedIn) < n {
			return fmt.Errorf("%d of %d events applied", len(appliedIn), n)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, tx := range appliedIn {
		if !w.txs[tx] {
			t.Errorf("%s applied in transaction %d, not one of the writer given to WriteThrough", id, tx)
		}
	}
}
