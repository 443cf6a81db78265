// Package grpcserver is the gRPC server every voix service runs: one listener, the standard
// health service and reflection (so probes and grpcurl work), interceptors that log one line
// per call, turn panics into Internal errors, check bearer tokens and answer InvalidArgument
// to requests that do not decode, and a shutdown that drains calls without hanging on streams
// that never end.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Config says what to serve and where.
type Config struct {
	// Name is the service name reported by health and logs ("voix.feedback.v1.FeedbackService").
	// Required.
	Name string
	// Listen is the TCP address, host:port; port 0 picks a free one (see Server.Addr). Required.
	Listen string
	// Log receives one line per call and every recovered panic. Default: discarded.
	Log *slog.Logger
	// Auth checks bearer tokens and the policy. nil serves without authentication: for tests
	// only, and handlers that call auth.CheckSegment then refuse every call.
	Auth *auth.Authenticator
	// Unary and Stream are interceptors run outermost, before logging and auth, so that they
	// see every call, refused ones included (the per-RPC metrics).
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// Options are appended after the defaults, so they can override them (keepalive, message
	// sizes, credentials). A codec set here replaces the one that turns undecodable requests
	// into InvalidArgument.
	Options []grpc.ServerOption
}

// Keepalive settings. grpc-go clients never ping more often than every 10 s (they raise a
// shorter Time to that floor), so enforcing 10 s accepts every client configuration that
// grpc-go allows and spares us "too_many_pings" surprises when a client sets its own keepalive;
// a peer flooding pings is still cut off. PermitWithoutStream lets idle clients (a gateway
// between requests) keep their connection warm. The server pings a silent peer after a minute
// and drops it 20 s later, so a dead subscriber of a server stream (WatchSentiment) does not
// hold its stream for the two hours of gRPC's default.
var (
	enforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}
	serverPings = keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}
)

// Server is a gRPC server bound to its listener.
type Server struct {
	name   string
	log    *slog.Logger
	auth   *auth.Authenticator // nil: no authentication
	grpc   *grpc.Server
	health *health.Server
	lis    net.Listener

	mu      sync.Mutex
	serving bool
	stopped bool

	rpcLinePC atomic.Uintptr // the rpc line's source for the log handler (logCall); 0: not yet known
}

// New binds the listener now, so that Addr is known and a busy port fails here, and builds the
// server with its interceptors, health (NOT_SERVING until Serve) and reflection. Register the
// service's API on GRPC() before Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		return nil, errors.New("grpcserver: Config.Name is required")
	}
	if cfg.Listen == "" {
		return nil, errors.New("grpcserver: Config.Listen is required (host:port)")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: listen on %s for %s: %w", cfg.Listen, cfg.Name, err)
	}
	s := &Server{name: cfg.Name, log: log, health: health.NewServer(), lis: lis}

	// Logging is outermost so that every call gets its line, a recovered panic included;
	// recovery sits right under it and also guards the auth interceptor.
	// Unary calls run the same steps in one function (s.unary): grpc-go's chain allocates a
	// closure per interceptor and call.
	s.auth = cfg.Auth
	unary := append(slices.Clone(cfg.Unary), s.unary)
	stream := append(slices.Clone(cfg.Stream), s.logStream, s.recoverStream)
	if cfg.Auth != nil {
		stream = append(stream, cfg.Auth.Stream())
	}
	// Innermost, after auth (a caller without a token learns only that it needs one): a
	// request that did not decode fails with InvalidArgument (codec.go).
	stream = append(stream, checkRequestStream)
	opts := append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(newRequestCodec()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveEnforcementPolicy(enforcement),
		grpc.KeepaliveParams(serverPings),
	}, cfg.Options...)
	s.grpc = grpc.NewServer(opts...)

	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(cfg.Name, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s, nil
}

// GRPC is the server to register services on, before Serve.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Addr is the bound address, with the real port when Listen asked for port 0.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Serve reports SERVING for "" and Name, then serves until Stop. It returns nil after Stop
// (also when Stop came first) and an error if serving failed or Serve was called twice.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	if s.serving {
		s.mu.Unlock()
		return fmt.Errorf("grpcserver: %s is already serving on %s", s.name, s.Addr())
	}
	s.serving = true
	s.mu.Unlock()

	// After Stop the health server ignores these: Shutdown wins whatever the order.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(s.name, healthpb.HealthCheckResponse_SERVING)
	s.log.Info("grpc serving", "service", s.name, "addr", s.Addr())
	err := s.grpc.Serve(s.lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop reports NOT_SERVING (so load balancers and watchers move away), then lets in-flight
// calls finish for up to timeout, then closes every connection. Streams that never end on
// their own, a health Watch included, are cut at the timeout. Stop may be called before Serve
// (it then just releases the listener) and more than once: a second call cuts the remaining
// calls at once.
func (s *Server) Stop(timeout time.Duration) {
	s.mu.Lock()
	first := !s.stopped
	serving := s.serving
	s.stopped = true
	s.mu.Unlock()
	if !first {
		s.grpc.Stop()
		return
	}
	s.health.Shutdown()
	if !serving {
		s.grpc.Stop()
		s.lis.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("grpc graceful stop timed out; closing remaining calls", "service", s.name, "timeout", timeout)
		s.grpc.Stop()
		<-done
	}
}

// unary is the server's unary interceptors in one: from the outside in, the log line
// (logCall), panic recovery (recoverPanic, which also guards auth), authentication and
// authorization (auth.Authenticator.Authorize), and the request check (badRequest). It does
// what the streaming chain (logStream, recoverStream, Authenticator.Stream, checkRequestStream)
// does, without a closure per step and call.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := s.guardedUnary(ctx, req, info.FullMethod, handler)
	err = s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) guardedUnary(ctx context.Context, req any, method string, handler grpc.UnaryHandler) (resp any, err error) {
	defer s.recoverPanic(method, &err)
	if s.auth != nil {
		if ctx, err = s.auth.Authorize(ctx, method); err != nil {
			return nil, err
		}
	}
	if err := badRequest(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	return s.logCall(ss.Context(), info.FullMethod, start, err)
}

// logCall writes the call's line and returns the error the client will see. A handler error
// that is not a status would reach the client as Unknown with its full text; it goes through
// rpcerr.To instead (Internal, or Canceled/DeadlineExceeded), and only the log keeps the cause.
func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) error {
	err = rpcerr.To(err)
	st := status.Convert(err)
	lvl := level(method, st.Code())
	if !s.log.Enabled(ctx, lvl) {
		return err // the line would be dropped: skip building it (every call pays for it)
	}
	var buf [6]slog.Attr // on the stack: AddAttrs below copies the attributes into the record
	attrs := append(buf[:0],
		slog.String("method", method),
		slog.String("code", st.Code().String()),
		slog.Duration("duration", time.Since(start)),
	)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", st.Message()))
		if cause := rpcerr.Cause(err); cause != nil {
			attrs = append(attrs, slog.String("cause", cause.Error()))
		}
	}
	// What s.log.LogAttrs does, less its runtime.Callers on every call (10% of the unary
	// interceptor's time): the line's program counter, which a handler with AddSource reports,
	// is the same on every call, here in logCall.
	pc := s.rpcLinePC.Load()
	if pc == 0 {
		pc = callerPC()
		s.rpcLinePC.Store(pc)
	}
	r := slog.NewRecord(time.Now(), lvl, "rpc", pc)
	r.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(ctx, r) // as LogAttrs: a handler's error is dropped
	return err
}

// callerPC is the program counter of its caller's call.
func callerPC() uintptr {
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:])
	return pcs[0]
}

// level keeps probes out of the info log and makes server faults stand out.
func level(method string, code codes.Code) slog.Level {
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.") {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer s.recoverPanic(info.FullMethod, &err)
	return handler(srv, ss)
}

// recoverPanic turns a panicking handler into an Internal error, so that one bad request does
// not take the whole process (and every other caller) down. The client learns nothing of the
// panic; the log gets it with the stack.
func (s *Server) recoverPanic(method string, err *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in grpc handler", "service", s.name, "method", method,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = rpcerr.To(fmt.Errorf("panic: %v", r))
	}
}
