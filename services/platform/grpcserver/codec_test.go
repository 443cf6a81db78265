package grpcserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/voix-dev/voix/services/platform/auth"
)

// rawCodec sends and receives messages as the bytes they are, so a test can put on the wire
// what no protobuf library would write. Its name keeps the ordinary content type.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, errors.New("rawCodec: want []byte")
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return errors.New("rawCodec: want *[]byte")
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// Requests the proto codec refuses, as raw bytes.
var (
	// Field 1 (a proto3 string in HealthCheckRequest, StringValue and ServerReflectionRequest)
	// holding bytes that are not UTF-8.
	badUTF8 = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("voix\xff\xfe"))
	// Field 1 announcing 5 bytes and carrying 1.
	truncated = append(protowire.AppendTag(nil, 1, protowire.BytesType), 5, 'v')
	// A tag whose varint never ends.
	garbage = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func rawInvoke(ctx context.Context, cc *grpc.ClientConn, method string, req []byte) ([]byte, error) {
	var resp []byte
	err := cc.Invoke(ctx, method, req, &resp, grpc.ForceCodec(rawCodec{}))
	return resp, err
}

func wantInvalidArgument(t *testing.T, what string, err error, message string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), message) {
		t.Fatalf("%s = %v, want InvalidArgument %q...", what, err, message)
	}
}

const (
	utf8Message     = "request: a string field is not valid UTF-8"
	protobufMessage = "request: invalid protobuf: "
)

// TestUndecodableUnaryRequest sends bytes that do not decode to unary methods, generated
// (health) and hand-written (the probe), and checks that each call fails with InvalidArgument
// naming the problem, before the handler runs.
func TestUndecodableUnaryRequest(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		name, message string
		req           []byte
	}{
		{"invalid UTF-8", utf8Message, badUTF8},
		{"truncated", protobufMessage, truncated},
		{"garbage", protobufMessage, garbage},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rawInvoke(ctx, f.cc, "/grpc.health.v1.Health/Check", c.req)
			wantInvalidArgument(t, "health Check", err, c.message)
			// Panic panics as soon as its handler runs: InvalidArgument shows it did not.
			_, err = rawInvoke(ctx, f.cc, "/"+serviceName+"/Panic", c.req)
			wantInvalidArgument(t, "probe Panic", err, c.message)
		})
	}
	// The protobuf error is in the message; the codec's inner workings are not.
	_, err := rawInvoke(ctx, f.cc, "/"+serviceName+"/Ok", truncated)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "proto:") || strings.Contains(msg, "voix/grpcserver") {
		t.Fatalf("truncated request: message %q, want the protobuf error and no marker", msg)
	}

	// The calls got their log lines with the code the client saw, not an error level.
	var lines []string
	for _, l := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(l, "msg=rpc") && strings.Contains(l, "/"+serviceName+"/Panic") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("got %d rpc lines for Panic, want 3:\n%s", len(lines), f.logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "code=InvalidArgument") {
			t.Fatalf("line %q: want INFO and InvalidArgument", l)
		}
	}
	if strings.Contains(f.logs.String(), "panic in grpc handler") {
		t.Fatal("the Panic handler ran on an undecodable request")
	}
}

// TestValidRawRequestsStillServed checks that the server's codec decodes and encodes ordinary
// messages: a well-formed request sent as raw bytes gets the right answer.
func TestValidRawRequestsStillServed(t *testing.T) {
	f := start(t, nil)
	req, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: serviceName})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rawInvoke(context.Background(), f.cc, "/grpc.health.v1.Health/Check", req)
	if err != nil {
		t.Fatalf("health Check with raw bytes: %v", err)
	}
	var resp healthpb.HealthCheckResponse
	if err := proto.Unmarshal(raw, &resp); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Check answer %x (%v) = %v, want SERVING", raw, err, resp.GetStatus())
	}
	// An unknown field is fine, even one numbered like the codec's own: without the key only
	// the server process knows, it is not taken for a bad request.
	forged := protowire.AppendTag(nil, 19999, protowire.BytesType)
	forged = protowire.AppendBytes(forged, []byte("voix/grpcserver/bad-request/AAAAAAAAAAAAAAAAAAAAAAAAAA\x00forged"))
	if _, err := rawInvoke(context.Background(), f.cc, "/"+serviceName+"/Ok", append(req, forged...)); err != nil {
		t.Fatalf("Ok with an unknown field: %v", err)
	}
	// And the server keeps serving after bad requests.
	if _, err := rawInvoke(context.Background(), f.cc, "/"+serviceName+"/Ok", garbage); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("garbage = %v, want InvalidArgument", err)
	}
	f.checkHealth(t, serviceName, healthpb.HealthCheckResponse_SERVING)
}

// TestUndecodableStreamMessage covers streams: a server stream (health Watch) whose request
// does not decode, and a bidirectional stream (reflection) whose second message does not.
func TestUndecodableStreamMessage(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()

	watch, err := f.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/grpc.health.v1.Health/Watch", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := watch.SendMsg(badUTF8); err != nil {
		t.Fatalf("Watch send: %v", err)
	}
	watch.CloseSend()
	var out []byte
	wantInvalidArgument(t, "Watch", watch.RecvMsg(&out), utf8Message)

	refl, err := f.cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true},
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	// list_services (field 7) first: answered.
	list := protowire.AppendString(protowire.AppendTag(nil, 7, protowire.BytesType), "*")
	if err := refl.SendMsg(list); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	if err := refl.RecvMsg(&out); err != nil || !strings.Contains(string(out), "grpc.health.v1.Health") {
		t.Fatalf("list_services = %q, %v; want the health service listed", out, err)
	}
	if err := refl.SendMsg(truncated); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("reflection send: %v", err)
	}
	wantInvalidArgument(t, "reflection after a truncated message", refl.RecvMsg(&out), protobufMessage)
}

// TestUndecodableRequestWithoutToken checks that authentication comes first: a caller without
// a token learns only that it needs one, whatever it sent.
func TestUndecodableRequestWithoutToken(t *testing.T) {
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	tokens, err := auth.NewTokens([]auth.TokenRecord{{Name: "bot", Role: auth.RoleSubmitter, Prefix: "acme", SHA256: auth.HashToken(tok)}})
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	f := start(t, auth.New(tokens, auth.Policy{"/" + serviceName + "/Ok": {auth.RoleSubmitter}}))
	if _, err := rawInvoke(context.Background(), f.cc, "/"+serviceName+"/Ok", badUTF8); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad bytes without a token = %v, want Unauthenticated", err)
	}
	withTok := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	_, err = rawInvoke(withTok, f.cc, "/"+serviceName+"/Ok", badUTF8)
	wantInvalidArgument(t, "bad bytes with a token", err, utf8Message)
}

// statusCodec is the proto codec returning its Unmarshal errors as InvalidArgument statuses:
// the obvious fix, which grpc-go defeats.
type statusCodec struct{ encoding.CodecV2 }

func (c statusCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// TestGRPCTurnsCodecErrorsIntoInternal pins the grpc-go behaviour that codec.go works around:
// a status returned by a codec's Unmarshal reaches the client as Internal. If this test fails,
// grpc-go now keeps the codec's status and codec.go can return it directly.
func TestGRPCTurnsCodecErrorsIntoInternal(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(statusCodec{encoding.GetCodecV2(grpcproto.Name)}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = rawInvoke(context.Background(), cc, "/grpc.health.v1.Health/Check", badUTF8)
	if st := status.Convert(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "grpc: failed to unmarshal the received message") {
		t.Fatalf("plain grpc-go with a status-returning codec = %v, want Internal", err)
	}
}
