package sentiment

import (
	"context"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// Heatmaps and trends are served from their encoding, made once per cached answer (view.go):
// a dashboard reads the same answer many times between two releases, and encoding 200 rows of
// 8 cells each time cost more than everything else the server does for it.
//
// grpc-go encodes what a handler returns with the codec (proto.Size, then proto.Marshal). The
// handlers of GetHeatmap and GetTrend below (serviceDesc) return the answer wrapped in
// encodedMessage, a message whose reflection is the answer's own, so that the interceptors
// read it as they would the answer (the hidden-cells metric walks it), but whose fast-path
// methods, which proto.Size and proto.Marshal use, return the bytes encoded once. The client
// receives the same bytes as proto.Marshal of the answer would give.

// encodedOnce is an answer and its encoding, each made once, on first use.
type encodedOnce[M proto.Message] struct {
	once sync.Once
	msg  M
	raw  []byte // nil if the answer did not encode (then it is encoded per call, as usual)
}

// get returns the answer (built by build the first time) and its encoding.
func (e *encodedOnce[M]) get(build func() M) (M, []byte) {
	e.once.Do(func() {
		e.msg = build()
		if raw, err := proto.Marshal(e.msg); err == nil {
			e.raw = raw
		}
	})
	return e.msg, e.raw
}

// encodedMessage is msg, encoded as raw.
type encodedMessage struct {
	protoreflect.Message // msg.ProtoReflect()
	raw                  []byte
}

// served is msg as a handler returns it: wrapped with its encoding raw, or msg itself without.
func served(msg proto.Message, raw []byte) any {
	if raw == nil {
		return msg
	}
	return &encodedMessage{Message: msg.ProtoReflect(), raw: raw}
}

func (e *encodedMessage) ProtoReflect() protoreflect.Message   { return e }
func (e *encodedMessage) Interface() protoreflect.ProtoMessage { return e }
func (e *encodedMessage) ProtoMethods() *protoiface.Methods    { return &encodedMethods }

// encodedMethods are the fast paths of every encodedMessage: the size and the bytes of raw.
// Unmarshal and merge stay unset: proto's slow paths, on the reflection (never used: an
// encodedMessage is only ever encoded).
var encodedMethods = protoiface.Methods{
	Flags: protoiface.SupportMarshalDeterministic,
	Size: func(in protoiface.SizeInput) protoiface.SizeOutput {
		return protoiface.SizeOutput{Size: len(in.Message.(*encodedMessage).raw)}
	},
	Marshal: func(in protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
		return protoiface.MarshalOutput{Buf: append(in.Buf, in.Message.(*encodedMessage).raw...)}, nil
	},
	// Answers are proto3: nothing is required.
	CheckInitialized: func(protoiface.CheckInitializedInput) (protoiface.CheckInitializedOutput, error) {
		return protoiface.CheckInitializedOutput{}, nil
	},
}

// serviceDesc is the generated sentimentv1.SentimentService_ServiceDesc with the handlers of
// GetHeatmap and GetTrend replaced by ones that return the encoded answers. Everything else
// (decoding the request, the interceptors and what they are told) is the generated handlers'.
var serviceDesc = func() grpc.ServiceDesc {
	d := sentimentv1.SentimentService_ServiceDesc
	d.Methods = slices.Clone(d.Methods)
	for i, m := range d.Methods {
		switch m.MethodName {
		case "GetHeatmap":
			d.Methods[i].Handler = unaryHandler(sentimentv1.SentimentService_GetHeatmap_FullMethodName, (*api).getHeatmap)
		case "GetTrend":
			d.Methods[i].Handler = unaryHandler(sentimentv1.SentimentService_GetTrend_FullMethodName, (*api).getTrend)
		}
	}
	return d
}()

// unaryHandler is a grpc.MethodHandler as protoc-gen-go-grpc writes them, calling call.
func unaryHandler[Req any, PReq interface {
	*Req
	proto.Message
}](method string, call func(*api, context.Context, PReq) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := PReq(new(Req))
		if err := dec(in); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return call(srv.(*api), ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return call(srv.(*api), ctx, req.(PReq))
		})
	}
}
