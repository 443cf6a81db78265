package grpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/grpcserver"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/rpcerr"
)

const serviceName = "voix.test.Probe"

// probe is a hand-written service: each method behaves as its name says. Block waits for the
// test to release it, to observe a graceful drain.
type probe struct {
	started chan struct{}
	release chan struct{}
}

func (p *probe) call(ctx context.Context, method string) (*wrapperspb.StringValue, error) {
	switch method {
	case "Panic":
		panic("boom: nil map in handler")
	case "Plain":
		return nil, errors.New("open /var/lib/voix/secret.db: permission denied")
	case "Field":
		return nil, rpcerr.InvalidArgument("segment", "must be a segment path")
	case "Block":
		close(p.started)
		<-p.release
	}
	return wrapperspb.String("ok"), nil
}

func probeDesc(p *probe) *grpc.ServiceDesc {
	d := &grpc.ServiceDesc{ServiceName: serviceName, HandlerType: (*any)(nil)}
	for _, name := range []string{"Ok", "Panic", "Plain", "Field", "Block"} {
		d.Methods = append(d.Methods, grpc.MethodDesc{
			MethodName: name,
			// As generated code does: decode, then hand the request to the interceptors.
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, _ any) (any, error) { return p.call(ctx, name) }
				return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + serviceName + "/" + name}, h)
			},
		})
	}
	d.Streams = []grpc.StreamDesc{{
		StreamName:    "PanicStream",
		ServerStreams: true,
		Handler:       func(any, grpc.ServerStream) error { panic("boom in stream") },
	}}
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type fixture struct {
	srv    *grpcserver.Server
	cc     *grpc.ClientConn
	probe  *probe
	logs   *syncBuffer
	served chan error // Serve's result
}

func start(t *testing.T, a *auth.Authenticator) *fixture {
	t.Helper()
	f := &fixture{
		probe:  &probe{started: make(chan struct{}), release: make(chan struct{})},
		logs:   &syncBuffer{},
		served: make(chan error, 1),
	}
	var err error
	f.srv, err = grpcserver.New(grpcserver.Config{
		Name:   serviceName,
		Listen: "127.0.0.1:0",
		Log:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:   a,
	})
	if err != nil {
		t.Fatalf("grpcserver.New: %v", err)
	}
	f.srv.GRPC().RegisterService(probeDesc(f.probe), struct{}{})
	go func() { f.served <- f.srv.Serve() }()
	t.Cleanup(func() { f.srv.Stop(time.Second) })

	f.cc, err = grpc.NewClient(f.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient(%s): %v", f.srv.Addr(), err)
	}
	t.Cleanup(func() { f.cc.Close() })
	return f
}

func (f *fixture) invoke(ctx context.Context, method string) error {
	return f.cc.Invoke(ctx, "/"+serviceName+"/"+method, wrapperspb.String("x"), new(wrapperspb.StringValue))
}

func (f *fixture) checkHealth(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	resp, err := healthpb.NewHealthClient(f.cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Check(%q): %v", service, err)
	}
	if resp.GetStatus() != want {
		t.Fatalf("health Check(%q) = %v, want %v", service, resp.GetStatus(), want)
	}
}

// waitServed fails the test if Serve does not return nil; the bound only guards against a hang.
func (f *fixture) waitServed(t *testing.T) {
	t.Helper()
	select {
	case err := <-f.served:
		if err != nil {
			t.Fatalf("Serve returned %v after Stop, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after Stop")
	}
}

func TestPanicRecovery(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()

	err := f.invoke(ctx, "Panic")
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("Panic = %v, want Internal \"internal error\"", err)
	}
	s, err := f.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/"+serviceName+"/PanicStream")
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	s.CloseSend()
	if err := s.RecvMsg(new(wrapperspb.StringValue)); status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("PanicStream = %v, want Internal without the panic text", err)
	}

	// The server survived both and keeps serving.
	if err := f.invoke(ctx, "Ok"); err != nil {
		t.Fatalf("Ok after a panic: %v", err)
	}
	f.checkHealth(t, serviceName, healthpb.HealthCheckResponse_SERVING)

	logs := f.logs.String()
	for _, want := range []string{"panic in grpc handler", "boom: nil map in handler", "boom in stream", "goroutine ", "grpcserver_test.go"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestErrorsReachingTheClient(t *testing.T) {
	f := start(t, nil)
	err := f.invoke(context.Background(), "Plain")
	st := status.Convert(err)
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") {
		t.Fatalf("a plain error reached the client as %v, want Internal without its text", st)
	}
	err = f.invoke(context.Background(), "Field")
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "segment: must be a segment path" || len(st.Details()) != 1 {
		t.Fatalf("a field error reached the client as %v (details %v)", st, st.Details())
	}
	// The log keeps what the client did not see.
	if logs := f.logs.String(); !strings.Contains(logs, "secret.db: permission denied") {
		t.Fatalf("log lacks the hidden cause:\n%s", logs)
	}
}

func TestOneLogLinePerCall(t *testing.T) {
	f := start(t, nil)
	if err := f.invoke(context.Background(), "Ok"); err != nil {
		t.Fatalf("Ok: %v", err)
	}
	_ = f.invoke(context.Background(), "Field")
	var lines []string
	for _, l := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(l, "msg=rpc") && strings.Contains(l, serviceName) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("got %d rpc lines, want 2:\n%s", len(lines), f.logs.String())
	}
	for i, want := range [][]string{
		{"level=INFO", "method=/" + serviceName + "/Ok", "code=OK", "duration=", "peer=127.0.0.1:"},
		{"level=INFO", "method=/" + serviceName + "/Field", "code=InvalidArgument", `err="segment: must be a segment path"`, "peer=127.0.0.1:"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Fatalf("line %q lacks %q", lines[i], w)
			}
		}
	}
}

func TestHealthAndStopWithOpenStream(t *testing.T) {
	f := start(t, nil)
	f.checkHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	f.checkHealth(t, serviceName, healthpb.HealthCheckResponse_SERVING)

	// A health Watch is a stream that never ends on its own: without the forced Stop after the
	// timeout, GracefulStop would wait for it forever.
	watch, err := healthpb.NewHealthClient(f.cc).Watch(context.Background(), &healthpb.HealthCheckRequest{Service: serviceName})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch update = %v, %v; want SERVING", r, err)
	}

	stopped := make(chan struct{})
	go func() {
		f.srv.Stop(500 * time.Millisecond)
		close(stopped)
	}()
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch update during Stop = %v, %v; want NOT_SERVING", r, err)
	}
	if _, err := watch.Recv(); err == nil {
		t.Fatal("Watch stream still open after Stop")
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return with a Watch stream open")
	}
	f.waitServed(t)
}

func TestStopDrainsInFlightCalls(t *testing.T) {
	f := start(t, nil)
	result := make(chan error, 1)
	go func() { result <- f.invoke(context.Background(), "Block") }()
	<-f.probe.started

	stopped := make(chan struct{})
	go func() {
		f.srv.Stop(time.Minute) // far longer than the call needs: the drain, not the timeout, ends it
		close(stopped)
	}()
	// Stop is now waiting for the call; let it finish.
	f.waitHealthGone(t)
	close(f.probe.release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight call during graceful stop: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return once the last call finished")
	}
	f.waitServed(t)
}

// waitHealthGone waits until the server refuses new calls, which shows Stop has begun.
func (f *fixture) waitHealthGone(t *testing.T) {
	t.Helper()
	poll.Until(t, 30*time.Second, 10*time.Millisecond, func() error {
		resp, err := healthpb.NewHealthClient(f.cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: serviceName})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return errors.New("health still SERVING after Stop was called")
		}
		return nil
	})
}

func TestStopBeforeServe(t *testing.T) {
	srv, err := grpcserver.New(grpcserver.Config{Name: serviceName, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr := srv.Addr()
	srv.Stop(time.Second)
	srv.Stop(time.Second) // twice is fine
	if err := srv.Serve(); err != nil {
		t.Fatalf("Serve after Stop = %v, want nil", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("address %s still held after Stop: %v", addr, err)
	}
	lis.Close()
}

func TestServeTwice(t *testing.T) {
	f := start(t, nil)
	f.checkHealth(t, "", healthpb.HealthCheckResponse_SERVING) // the first Serve is running
	if err := f.srv.Serve(); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second Serve = %v, want an error", err)
	}
}

func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		cfg  grpcserver.Config
		want string
	}{
		{"port in use", grpcserver.Config{Name: serviceName, Listen: busy.Addr().String()}, busy.Addr().String()},
		{"bad address", grpcserver.Config{Name: serviceName, Listen: "127.0.0.1:http2"}, "127.0.0.1:http2"},
		{"no name", grpcserver.Config{Listen: "127.0.0.1:0"}, "Name"},
		{"no address", grpcserver.Config{Name: serviceName}, "Listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := grpcserver.New(tc.cfg)
			if err == nil {
				srv.Stop(time.Second)
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestAuthIsWired(t *testing.T) {
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	tokens, err := auth.NewTokens([]auth.TokenRecord{{Name: "bot", Role: auth.RoleSubmitter, Prefix: "acme", SHA256: auth.HashToken(tok)}})
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	f := start(t, auth.New(tokens, auth.Policy{"/" + serviceName + "/Ok": {auth.RoleSubmitter}}))

	f.checkHealth(t, serviceName, healthpb.HealthCheckResponse_SERVING) // public, no token
	if err := f.invoke(context.Background(), "Ok"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Ok without a token = %v, want Unauthenticated", err)
	}
	withTok := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	if err := f.invoke(withTok, "Ok"); err != nil {
		t.Fatalf("Ok with a token: %v", err)
	}
	if err := f.invoke(withTok, "Panic"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Panic (not in the policy) = %v, want PermissionDenied", err)
	}
}

// TestRPCLineSource checks that a handler with AddSource gets the rpc line's source, in the
// server's log code, on every call.
func TestRPCLineSource(t *testing.T) {
	var logs syncBuffer
	srv, err := grpcserver.New(grpcserver.Config{
		Name:   serviceName,
		Listen: "127.0.0.1:0",
		Log:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{AddSource: true})),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv.GRPC().RegisterService(probeDesc(&probe{}), struct{}{})
	go srv.Serve()
	t.Cleanup(func() { srv.Stop(time.Second) })
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	f := &fixture{cc: cc}
	for range 2 {
		if err := f.invoke(context.Background(), "Ok"); err != nil {
			t.Fatalf("Ok: %v", err)
		}
	}
	var n int
	for _, l := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(l, "msg=rpc") {
			continue
		}
		n++
		if !strings.Contains(l, "source=") || !strings.Contains(l, "grpcserver/grpcserver.go:") {
			t.Fatalf("rpc line %q: want the source in grpcserver.go", l)
		}
	}
	if n != 2 {
		t.Fatalf("got %d rpc lines, want 2:\n%s", n, logs.String())
	}
}
