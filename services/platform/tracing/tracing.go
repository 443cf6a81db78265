// Package tracing exports OpenTelemetry traces of a voix process over OTLP/gRPC, when the
// operator asks for it (--otlp-endpoint); without it nothing is traced and nothing is
// dialed. Spans carry what the gRPC instrumentation records (method, status code, peer
// address): the peer is already in the service's log line of each call, and no request or
// response content is recorded. Keep the collector as private as the logs.
package tracing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

// Config says where traces go.
type Config struct {
	// Endpoint is the OTLP/gRPC collector, host:port (e.g. 127.0.0.1:4317). Empty: tracing
	// is off.
	Endpoint string
	// Insecure sends the spans in plain text: for a collector on loopback or a sidecar.
	// Default: TLS, trusting the system's CAs.
	Insecure bool
	// Service is the service.name resource attribute ("voix-feedback"). Required with
	// Endpoint.
	Service string
}

// Tracer is the process's tracer provider; nil when tracing is off.
type Tracer struct {
	tp *sdktrace.TracerProvider
}

// New returns a Tracer exporting to cfg.Endpoint in batches, or nil when the endpoint is
// empty. The exporter connects lazily: a collector that is away delays nothing but its spans.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	if cfg.Service == "" {
		return nil, errors.New("tracing: Config.Service is required")
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint %s: %w", cfg.Endpoint, err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.Service))
	return &Tracer{tp: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// ServerOption is the gRPC server option that traces every call (a span per RPC, child of a
// W3C traceparent the caller sent); no option when t is nil.
func (t *Tracer) ServerOption() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tp),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))}
}

// Shutdown flushes the spans not exported yet and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
