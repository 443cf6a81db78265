package grpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/grpcserver"
	"github.com/voix-dev/voix/services/platform/metrics"
)

const benchService = "voix.bench.Bench"

// benchServer is a server with authentication and a trivial unary method, Ok. Every call of
// a method hands grpc-go's interceptor chain to the method handler (as generated code gets
// it); the last one is kept in *chain, so the benchmark can call the chain directly.
// With withMetrics, the per-RPC metrics and the hidden-cells counter run outermost, as
// services/platform/host puts them when the metrics listener is on.
func benchServer(b *testing.B, level slog.Level, withMetrics bool) (cc *grpc.ClientConn, tok string, chain *grpc.UnaryServerInterceptor) {
	b.Helper()
	tok, err := auth.NewToken()
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := auth.NewTokens([]auth.TokenRecord{{Name: "bot", Role: auth.RoleSubmitter, Prefix: "acme", SHA256: auth.HashToken(tok)}})
	if err != nil {
		b.Fatal(err)
	}
	cfg := grpcserver.Config{
		Name:   benchService,
		Listen: "127.0.0.1:0",
		Log:    slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level})),
		Auth:   auth.New(tokens, auth.Policy{"/" + benchService + "/Ok": {auth.RoleSubmitter}}),
	}
	if withMetrics {
		reg := metrics.NewRegistry()
		grpcm, err := metrics.NewGRPCServer(reg)
		if err != nil {
			b.Fatal(err)
		}
		hidden, err := metrics.NewHiddenCells(reg, nil)
		if err != nil {
			b.Fatal(err)
		}
		cfg.Unary = []grpc.UnaryServerInterceptor{grpcm.UnaryServerInterceptor(), hidden}
	}
	srv, err := grpcserver.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	chain = new(grpc.UnaryServerInterceptor)
	srv.GRPC().RegisterService(&grpc.ServiceDesc{
		ServiceName: benchService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Ok",
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				*chain = icpt
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + benchService + "/Ok"}, benchHandler)
			},
		}},
	}, struct{}{})
	go srv.Serve()
	b.Cleanup(func() { srv.Stop(time.Second) })
	cc, err = grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return cc, tok, chain
}

var benchReply = wrapperspb.String("ok")

func benchHandler(context.Context, any) (any, error) { return benchReply, nil }

var benchLevels = []struct {
	name    string
	level   slog.Level
	metrics bool
}{{"log=info", slog.LevelInfo, false}, {"log=warn", slog.LevelWarn, false}, {"log=info+metrics", slog.LevelInfo, true}}

// BenchmarkInterceptorCall is one authenticated unary call through the whole server (client,
// loopback TCP, codec, interceptors) to a trivial handler. With log=info every call writes its
// line (to io.Discard); with log=warn the line is not built.
func BenchmarkInterceptorCall(b *testing.B) {
	for _, l := range benchLevels {
		b.Run(l.name, func(b *testing.B) {
			cc, tok, _ := benchServer(b, l.level, l.metrics)
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
			req, resp := wrapperspb.String("x"), new(wrapperspb.StringValue)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := cc.Invoke(ctx, "/"+benchService+"/Ok", req, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterceptorChain is the server's unary interceptor chain alone, called directly
// with what grpc-go puts on an incoming call's context (metadata, peer) and a trivial handler.
func BenchmarkInterceptorChain(b *testing.B) {
	for _, l := range benchLevels {
		b.Run(l.name, func(b *testing.B) {
			cc, tok, chain := benchServer(b, l.level, l.metrics)
			out := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
			if err := cc.Invoke(out, "/"+benchService+"/Ok", wrapperspb.String("x"), new(wrapperspb.StringValue)); err != nil {
				b.Fatal(err)
			}
			icpt := *chain
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(
				":authority", "127.0.0.1:4000",
				"content-type", "application/grpc",
				"user-agent", "grpc-go/1.85.0",
				"authorization", "Bearer "+tok,
			))
			ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53412}})
			info := &grpc.UnaryServerInfo{FullMethod: "/" + benchService + "/Ok"}
			req := wrapperspb.String("x")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := icpt(ctx, req, info, benchHandler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
