package auth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/auth"
)

// The test service answers with the principal the interceptor put on the context, written by
// hand as a grpc.ServiceDesc so that auth's tests need no generated code.
const (
	whoami       = "/voix.test.Who/Whoami"
	whoamiStream = "/voix.test.Who/WhoamiStream"
	unlisted     = "/voix.test.Who/Unlisted"
	noRoles      = "/voix.test.Who/NoRoles"
)

func describe(ctx context.Context) *wrapperspb.StringValue {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return wrapperspb.String("nobody")
	}
	return wrapperspb.String(fmt.Sprintf("%s %s %s", p.Name, p.Role, p.Prefix))
}

func unary(name string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return describe(ctx), nil }
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/voix.test.Who/" + name}, h)
		},
	}
}

var whoDesc = grpc.ServiceDesc{
	ServiceName: "voix.test.Who",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{unary("Whoami"), unary("Unlisted"), unary("NoRoles")},
	Streams: []grpc.StreamDesc{{
		StreamName:    "WhoamiStream",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := ss.RecvMsg(in); err != nil {
				return err
			}
			return ss.SendMsg(describe(ss.Context()))
		},
	}},
}

type fixture struct {
	cc                  *grpc.ClientConn
	hr, submitter, root string
}

func startServer(t *testing.T) fixture {
	t.Helper()
	var f fixture
	var file auth.TokenFile
	add := func(name string, role auth.Role, prefix string) string {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatalf("NewToken: %v", err)
		}
		file.Tokens = append(file.Tokens, auth.TokenRecord{Name: name, Role: role, Prefix: prefix, SHA256: auth.HashToken(tok)})
		return tok
	}
	f.hr = add("hr-portal", auth.RoleHR, "acme")
	f.submitter = add("slack-bot", auth.RoleSubmitter, "acme")
	f.root = add("root", auth.RoleAdmin, "")
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := auth.WriteTokens(path, file); err != nil {
		t.Fatalf("WriteTokens: %v", err)
	}
	tokens, err := auth.LoadTokens(path)
	if err != nil {
		t.Fatalf("LoadTokens: %v", err)
	}
	a := auth.New(tokens, auth.Policy{
		whoami:       {auth.RoleHR, auth.RoleAdmin},
		whoamiStream: {auth.RoleHR},
		noRoles:      {},
	})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Unary()), grpc.ChainStreamInterceptor(a.Stream()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	srv.RegisterService(&whoDesc, struct{}{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	f.cc, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { f.cc.Close() })
	return f
}

func withAuth(values ...string) context.Context {
	ctx := context.Background()
	for _, v := range values {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}

func callUnary(ctx context.Context, cc *grpc.ClientConn, method string) (string, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, method, wrapperspb.String("hi"), out)
	return out.GetValue(), err
}

func callStream(ctx context.Context, cc *grpc.ClientConn, method string) (string, error) {
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err != nil {
		return "", err
	}
	if err := s.SendMsg(wrapperspb.String("hi")); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	out := new(wrapperspb.StringValue)
	if err := s.RecvMsg(out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

func TestInterceptors(t *testing.T) {
	f := startServer(t)
	bearer := func(tok string) context.Context { return withAuth("Bearer " + tok) }
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		stream  bool
		method  string
		code    codes.Code
		want    string   // the reply, when OK
		message []string // substrings of the status message otherwise
	}{
		{"hr allowed", bearer(f.hr), false, whoami, codes.OK, "hr-portal hr acme", nil},
		{"global admin allowed", bearer(f.root), false, whoami, codes.OK, "root admin ", nil},
		{"scheme is case-insensitive", withAuth("bearer " + f.hr), false, whoami, codes.OK, "hr-portal hr acme", nil},
		{"stream carries the principal", bearer(f.hr), true, whoamiStream, codes.OK, "hr-portal hr acme", nil},
		{"no metadata", context.Background(), false, whoami, codes.Unauthenticated, "", []string{"missing authorization: Bearer <token>"}},
		{"no metadata, stream", context.Background(), true, whoamiStream, codes.Unauthenticated, "", []string{"missing authorization: Bearer <token>"}},
		{"basic scheme", withAuth("Basic dXNlcjpwYXNz"), false, whoami, codes.Unauthenticated, "", []string{"malformed authorization", "Bearer <token>"}},
		{"bearer without token", withAuth("Bearer "), false, whoami, codes.Unauthenticated, "", []string{"malformed authorization"}},
		{"token without scheme", withAuth(f.hr), false, whoami, codes.Unauthenticated, "", []string{"malformed authorization"}},
		{"two headers", withAuth("Bearer "+f.hr, "Bearer "+f.root), false, whoami, codes.Unauthenticated, "", []string{"2 values"}},
		{"unknown token", bearer("voix_nope"), false, whoami, codes.Unauthenticated, "", []string{"unknown or revoked"}},
		{"unknown token, stream", bearer("voix_nope"), true, whoamiStream, codes.Unauthenticated, "", []string{"unknown or revoked"}},
		{"hash is not a token", bearer(auth.HashToken(f.hr)), false, whoami, codes.Unauthenticated, "", []string{"unknown or revoked"}},
		{"role not allowed", bearer(f.submitter), false, whoami, codes.PermissionDenied, "", []string{`role "submitter"`, whoami, "allowed: hr, admin"}},
		{"role not allowed, stream", bearer(f.root), true, whoamiStream, codes.PermissionDenied, "", []string{`role "admin"`, whoamiStream}},
		{"method not in policy", bearer(f.root), false, unlisted, codes.PermissionDenied, "", []string{unlisted, "not allowed for any role"}},
		{"method with no roles", bearer(f.root), false, noRoles, codes.PermissionDenied, "", []string{noRoles, "not allowed for any role"}},
		{"unlisted method needs a token first", context.Background(), false, unlisted, codes.Unauthenticated, "", []string{"missing authorization"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := callUnary
			if tc.stream {
				call = callStream
			}
			got, err := call(tc.ctx, f.cc, tc.method)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("%s = %q, %v; want code %v", tc.method, got, err, tc.code)
			}
			if tc.code == codes.OK && got != tc.want {
				t.Fatalf("%s answered %q, want %q", tc.method, got, tc.want)
			}
			for _, m := range tc.message {
				if !strings.Contains(st.Message(), m) {
					t.Fatalf("message %q does not contain %q", st.Message(), m)
				}
			}
		})
	}
}

func TestPublicMethods(t *testing.T) {
	f := startServer(t)
	for name, ctx := range map[string]context.Context{
		"no token":      context.Background(),
		"invalid token": withAuth("Bearer voix_nope"), // public means the header is not even read
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := healthpb.NewHealthClient(f.cc).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health Check = %v, %v; want SERVING", resp, err)
			}
			rs, err := reflectionpb.NewServerReflectionClient(f.cc).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatalf("reflection stream: %v", err)
			}
			if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
				t.Fatalf("reflection send: %v", err)
			}
			r, err := rs.Recv()
			if err != nil {
				t.Fatalf("reflection recv: %v", err)
			}
			var names []string
			for _, s := range r.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			if !strings.Contains(strings.Join(names, " "), "voix.test.Who") {
				t.Fatalf("reflection lists %v, want voix.test.Who among them", names)
			}
			rs.CloseSend()
		})
	}
}

func TestPolicyIsCopied(t *testing.T) {
	tokens, err := auth.NewTokens([]auth.TokenRecord{{Name: "bot", Role: auth.RoleSubmitter, Prefix: "acme", SHA256: auth.HashToken("tok")}})
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	policy := auth.Policy{whoami: {auth.RoleHR}}
	a := auth.New(tokens, policy)
	policy[whoami][0] = auth.RoleSubmitter // a later change must not widen access
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer tok"))
	_, err = a.Unary()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: whoami}, func(context.Context, any) (any, error) { return "called", nil })
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("after mutating the caller's map, submitter got %v; want PermissionDenied", err)
	}
}
