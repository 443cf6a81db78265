// Package page is the one paging convention of voix's List RPCs. A page token is base64url of
// a fingerprint of the request without its paging fields, then the sort key of the last item
// returned. The fingerprint binds a token to the listing it came from (a token of another RPC,
// or of other filters, is InvalidArgument on page_token); the key is a place in the listing's
// order, not an offset, so that items inserted between two pages are neither repeated nor
// skipped. A key must hold nothing the caller did not already see in the last item of the
// page.
package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// FingerprintSize is the length of a token's fingerprint.
const FingerprintSize = 8

// pagingFields are the fields a fingerprint leaves out.
var pagingFields = []protoreflect.Name{"page_size", "page_token"}

// Fingerprint identifies a listing: the request's type and every field but its paging ones.
func Fingerprint(req proto.Message) ([]byte, error) {
	m := proto.Clone(req).ProtoReflect()
	for _, name := range pagingFields {
		if fd := m.Descriptor().Fields().ByName(name); fd != nil {
			m.Clear(fd)
		}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", m.Descriptor().FullName(), err)
	}
	h := sha256.New()
	h.Write([]byte(m.Descriptor().FullName()))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)[:FingerprintSize], nil
}

// Token is the token of the page after the item whose sort key is key, in listing fp.
func Token(fp, key []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(slices.Clip(fp), key...))
}

// Read returns the sort key a page token of listing fp holds; nil for no token. rpc names the
// listing in the error ("ListFeedback").
func Read(token string, fp []byte, rpc string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= FingerprintSize {
		return nil, rpcerr.InvalidArgument("page_token", "not a token of "+rpc)
	}
	if !bytes.Equal(raw[:FingerprintSize], fp) {
		return nil, rpcerr.InvalidArgument("page_token", "was issued for other filters: repeat them, or start over without it")
	}
	return raw[FingerprintSize:], nil
}

// Size is a request's page size: def for 0, else 1..most; field names it in the error.
func Size(field string, n int32, def, most int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || int(n) > most:
		return 0, rpcerr.InvalidArgument(field, fmt.Sprintf("must be 0..%d (0 means %d), got %d", most, def, n))
	}
	return int(n), nil
}

// Paged is a List request: its page_size and page_token fields, and the filters around them.
type Paged interface {
	proto.Message
	GetPageSize() int32
	GetPageToken() string
}

// Open reads the paging fields of req, a request of the listing rpc ("ListFeedback"): the page
// size (def for 0, 1..most), the fingerprint its next page token must carry (Token), and the
// sort key to start after (nil on the first page). Errors are gRPC statuses naming the field.
func Open(req Paged, rpc string, def, most int) (size int, fp, after []byte, err error) {
	if size, err = Size("page_size", req.GetPageSize(), def, most); err != nil {
		return 0, nil, nil, err
	}
	if fp, err = Fingerprint(req); err != nil {
		return 0, nil, nil, status.Error(codes.Internal, err.Error())
	}
	if after, err = Read(req.GetPageToken(), fp, rpc); err != nil {
		return 0, nil, nil, err
	}
	return size, fp, after, nil
}
