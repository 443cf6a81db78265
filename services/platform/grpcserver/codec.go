package grpcserver

import (
	"bytes"
	"crypto/rand"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// A request whose bytes do not decode (a truncated message, a proto3 string that is not valid
// UTF-8) is the caller's fault and must fail with InvalidArgument. grpc-go cannot be told so
// by its codec: in grpc-go v1.85.0, rpc_util.go recv wraps every Unmarshal error, a status
// included, as
//
//	if err := c.Unmarshal(data, m); err != nil {
//		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
//	}
//
// and serverStream.RecvMsg (stream.go) writes that status to the client at once, in a
// deferred ss.s.WriteStatus(st), before the handler or any interceptor sees the error: an
// interceptor that rewrote it would be too late.
//
// So the server's codec does not fail. When the proto codec cannot decode a request, it
// resets the message and leaves the reason in it, in an unknown field that carries a key only
// this process knows (a client can send any unknown field, but cannot forge one it does not
// know). The innermost interceptor finds the field on the decoded request (unary) or on every
// message the handler receives (streams) and fails the call with InvalidArgument before the
// handler can use the empty message. A hand-written unary handler that does not pass its
// decoded request to the interceptor (generated code always does) would get the empty
// message: register generated services only.

// badRequestField is the unknown field that carries the reason. Numbers 19000 to 19999 are
// reserved for the protobuf implementation: no .proto file can declare them.
const badRequestField protowire.Number = 19999

// badRequestKey starts the field's value.
var badRequestKey = []byte("voix/grpcserver/bad-request/" + rand.Text() + "\x00")

// requestCodec is the proto codec, except for requests it cannot decode (see above).
type requestCodec struct{ encoding.CodecV2 }

func newRequestCodec() requestCodec {
	return requestCodec{encoding.GetCodecV2(grpcproto.Name)}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil || !errors.Is(err, proto.Error) {
		return err // not a proto message: the server's fault, Internal
	}
	m := messageOf(v)
	if m == nil {
		return err
	}
	reason := "request: invalid protobuf: " + err.Error()
	var utf8Err interface{ InvalidUTF8() bool }
	if errors.As(err, &utf8Err) && utf8Err.InvalidUTF8() {
		reason = "request: a string field is not valid UTF-8"
	}
	proto.Reset(m)
	field := protowire.AppendTag(nil, badRequestField, protowire.BytesType)
	field = protowire.AppendBytes(field, append(bytes.Clone(badRequestKey), reason...))
	m.ProtoReflect().SetUnknown(field)
	return nil
}

func messageOf(v any) proto.Message {
	switch m := v.(type) {
	case proto.Message:
		return m
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m)
	}
	return nil
}

// badRequest returns the InvalidArgument error for a message requestCodec could not decode,
// or nil.
func badRequest(v any) error {
	m := messageOf(v)
	if m == nil {
		return nil
	}
	u := m.ProtoReflect().GetUnknown()
	num, typ, n := protowire.ConsumeTag(u)
	if n < 0 || num != badRequestField || typ != protowire.BytesType {
		return nil
	}
	val, n2 := protowire.ConsumeBytes(u[n:])
	if n2 < 0 || n+n2 != len(u) || !bytes.HasPrefix(val, badRequestKey) {
		return nil
	}
	return status.Error(codes.InvalidArgument, string(val[len(badRequestKey):]))
}

func checkRequestStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, checkedStream{ss})
}

// checkedStream fails RecvMsg for a message requestCodec could not decode.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return badRequest(m)
}
