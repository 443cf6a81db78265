// Package metrics is a voix process's admin listener: Prometheus metrics on /metrics and the
// Go profiler on /debug/pprof/, on an address of their own that is off unless the operator
// asks for it (--metrics-listen). The gRPC metrics (grpc_server_handled_total, latency
// histograms) come from the grpc-ecosystem middleware; services add their own collectors
// to the registry.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewGRPCServer returns the per-RPC server metrics (grpc_server_started_total,
// grpc_server_handled_total by code, grpc_server_handling_seconds), registered on reg. Put
// its interceptors outermost, so that refused calls are counted too, and call
// InitializeMetrics once the services are registered so that every method shows from zero.
func NewGRPCServer(reg prometheus.Registerer) (*grpcprom.ServerMetrics, error) {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
	))
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("metrics: register grpc server metrics: %w", err)
	}
	return m, nil
}

// Admin is the admin HTTP listener.
type Admin struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Handler serves /metrics from g and the profiler under /debug/pprof/.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve binds listen now (a busy port fails here) and serves Handler(g) in the background
// until Close.
func Serve(listen string, g prometheus.Gatherer, log *slog.Logger) (*Admin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: listen on %s: %w", listen, err)
	}
	a := &Admin{
		ln:   ln,
		done: make(chan struct{}),
		// No WriteTimeout: a CPU profile streams for its ?seconds=.
		srv: &http.Server{Handler: Handler(g), ReadHeaderTimeout: 5 * time.Second},
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", a.Addr(), "paths", "/metrics /debug/pprof/")
	return a, nil
}

// Addr is the bound address, with the real port when port 0 was asked.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Close stops the listener, letting scrapes in progress finish for up to two seconds.
func (a *Admin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		a.srv.Close()
	}
	<-a.done
	return err
}
