package host_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/tlsconf"
	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

// healthOver calls Health.Check on addr with creds and returns the error.
func healthOver(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: testService})
	if err == nil && resp.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %v, want SERVING", resp.Status)
	}
	return err
}

// TestMutualTLS: with client certificates required, a client presenting one signed by the
// configured CA is served; a client without a certificate, one with a certificate of another
// CA, and a plain-text client are refused.
func TestMutualTLS(t *testing.T) {
	pki := tlstest.New(t)
	serverTLS, err := tlsconf.Server(pki.ServerCert, pki.ServerKey, pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	e := servicetest.New(t)
	logs := &logBuffer{}
	h := newHost(t, e, e.NATS.ClientURL(), logs, func(c *host.Config) { c.Ops.TLS = serverTLS })
	h.Serve()
	if l := logs.line("grpc listener ready"); !strings.Contains(l, "mutual") {
		t.Errorf("start-up line %q does not say TLS is mutual", l)
	}

	client := func(certFile, keyFile string) credentials.TransportCredentials {
		c, err := tlsconf.Client(pki.CA, certFile, keyFile, "")
		if err != nil {
			t.Fatal(err)
		}
		return credentials.NewTLS(c)
	}
	if err := healthOver(t, h.Addr(), client(pki.ClientCert, pki.ClientKey)); err != nil {
		t.Fatalf("client with a certificate of the CA: %v, want served", err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"no client certificate":          client("", ""),
		"certificate of another CA":      client(pki.OtherClientCert, pki.OtherClientKey),
		"plain text":                     insecure.NewCredentials(),
		"server not trusted (system CA)": credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}),
	} {
		if err := healthOver(t, h.Addr(), creds); err == nil {
			t.Errorf("%s: served, want refused", name)
		}
	}
}

var handledLine = regexp.MustCompile(`(?m)^grpc_server_handled_total\{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"\} (\d+)$`)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestMetricsListen: with --metrics-listen, /metrics counts each RPC by method and code, has
// its latency histogram, and reports the outbox depth, the NATS connection, the events a
// durable applied and its lag; /debug/pprof/ is served on the same listener. Without it,
// nothing listens.
func TestMetricsListen(t *testing.T) {
	e := servicetest.New(t)
	if h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{}); h.MetricsAddr() != "" {
		t.Fatalf("metrics listening at %s without MetricsListen", h.MetricsAddr())
	}
	h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{}, func(c *host.Config) {
		c.Store = "metered"
		c.Ops.MetricsListen = "127.0.0.1:0"
	})
	k := events.FeedbackSubmitted
	if err := h.Consume(consumer.Config{
		Stream: k.Stream.Name, Durable: "metrics-test", FilterSubjects: []string{k.All()},
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
			_, err := tx.CreateBucketIfNotExists(applied)
			return err
		},
	}); err != nil {
		t.Fatal(err)
	}
	h.Serve()
	base := "http://" + h.MetricsAddr()
	if m := handledLine.FindStringSubmatch(scrape(t, base+"/metrics")); m == nil || m[1] != "0" {
		t.Fatalf("before any call: %v, want Health.Check listed at 0", m)
	}
	checkServing(t, h.Addr())
	body := scrape(t, base+"/metrics")
	if m := handledLine.FindStringSubmatch(body); m == nil || m[1] != "1" {
		t.Fatalf("after one Health.Check: %v, want grpc_server_handled_total 1; /metrics:\n%s", m, body)
	}
	for _, want := range []string{
		`grpc_server_handling_seconds_bucket{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",le="0.005"}`,
		`voix_nats_connected{service="metered"} 1`,
		`voix_outbox_pending{service="metered"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	for i := range 3 {
		ev := bus.Event{ID: fmt.Sprintf("metrics-test/%d", i), Type: k.Type, Source: k.Source, Subject: "voix.feedback.submitted.acme", Data: []byte{1}}
		if err := h.DB.Update(func(tx *bolt.Tx) error { return h.Outbox.Add(tx, ev) }); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		body := scrape(t, base+"/metrics")
		for _, want := range []string{
			`voix_events_applied_total{durable="metrics-test",service="metered"} 3`,
			`voix_consumer_pending_messages{durable="metrics-test",service="metered"} 0`,
			`voix_outbox_pending{service="metered"} 0`,
		} {
			if !strings.Contains(body, want) {
				return errors.New("/metrics lacks " + want)
			}
		}
		return nil
	})
	if !strings.Contains(scrape(t, base+"/debug/pprof/"), "goroutine") {
		t.Fatal("/debug/pprof/ does not list the goroutine profile")
	}
}

// collector is an OTLP/gRPC trace receiver: what an OpenTelemetry collector runs.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string // "service.name span-name trace-id-hex"
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		svc := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				svc = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.spans = append(c.spans, fmt.Sprintf("%s %s %x", svc, sp.Name, sp.TraceId))
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

// TestTracesToOTLPCollector: with an OTLP endpoint, each gRPC call becomes a span, child of
// the W3C traceparent the caller sent, exported to the collector by Close at the latest.
// Without one, nothing is dialed (the other tests).
func TestTracesToOTLPCollector(t *testing.T) {
	col := &collector{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	e := servicetest.New(t)
	h := newHost(t, e, e.NATS.ClientURL(), &logBuffer{}, func(c *host.Config) {
		c.Store = "traced"
		c.Ops.OTLPEndpoint, c.Ops.OTLPInsecure = lis.Addr().String(), true
	})
	h.Serve()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if _, err := healthpb.NewHealthClient(dial(t, h.Addr())).Check(ctx, &healthpb.HealthCheckRequest{Service: testService}); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	want := "voix-traced grpc.health.v1.Health/Check " + traceID
	if got := col.received(); !slices.Contains(got, want) {
		t.Fatalf("collector received %q, want %q", got, want)
	}
}

// TestMetricsRelayLag: voix_outbox_relay_lag_seconds is the age of the oldest event the relay
// has not published: 0 with an empty outbox, growing while NATS is away and an acknowledged
// write waits, and 0 again once NATS is back and the event is out.
func TestMetricsRelayLag(t *testing.T) {
	e := servicetest.New(t)
	s := natstest.Start(t)
	h := newHost(t, e, s.ClientURL(), &logBuffer{}, func(c *host.Config) {
		c.Store = "lagging"
		c.Ops.MetricsListen = "127.0.0.1:0"
	})
	h.Serve()
	url := "http://" + h.MetricsAddr() + "/metrics"
	lag := regexp.MustCompile(`(?m)^voix_outbox_relay_lag_seconds\{service="lagging"\} (\S+)$`)
	value := func() (float64, error) {
		body := scrape(t, url)
		m := lag.FindStringSubmatch(body)
		if m == nil {
			return 0, errors.New("/metrics lacks voix_outbox_relay_lag_seconds:\n" + body)
		}
		return strconv.ParseFloat(m[1], 64)
	}
	if v, err := value(); err != nil || v != 0 {
		t.Fatalf("empty outbox: lag %v, %v; want 0", v, err)
	}

	dir, port := natstest.StoreDir(t, s), natstest.Port(t, s)
	natstest.Stop(s)
	k := events.FeedbackSubmitted
	ev := bus.Event{ID: "lag-test/1", Type: k.Type, Source: k.Source, Subject: "voix.feedback.submitted.acme", Data: []byte{1}}
	if err := h.DB.Update(func(tx *bolt.Tx) error { return h.Outbox.Add(tx, ev) }); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
		if v, err := value(); err != nil || v < 2 {
			return fmt.Errorf("NATS away, one event waiting: lag %v, %v; want it to reach 2", v, err)
		}
		return nil
	})
	natstest.StartAt(t, dir, port)
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if v, err := value(); err != nil || v != 0 {
			return fmt.Errorf("NATS back: lag %v, %v; want 0", v, err)
		}
		if n, err := h.Outbox.Pending(); err != nil || n != 0 {
			return fmt.Errorf("NATS back: %d events pending, %v", n, err)
		}
		return nil
	})
}
