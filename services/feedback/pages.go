package feedback

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Page tokens, one convention for every List RPC: base64url of a fingerprint of the request
// without its paging fields, then the sort key of the last item returned. The fingerprint binds
// a token to the listing it came from (a token of another listing, or of other filters, is
// InvalidArgument on page_token); the key is a place in the listing's order, not an offset, so
// that items inserted between two pages are neither repeated nor skipped. A key holds nothing
// the caller did not already see in the last item of the page.

// fingerprintSize is the length of a token's fingerprint.
const fingerprintSize = 8

// pagingFields are the fields a fingerprint leaves out.
var pagingFields = []protoreflect.Name{"page_size", "page_token"}

// fingerprint identifies a listing: the request's type and every field but its paging ones.
func fingerprint(req proto.Message) ([]byte, error) {
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
	return h.Sum(nil)[:fingerprintSize], nil
}

// pageToken is the token of the page after the item whose sort key is key.
func pageToken(fp, key []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(slices.Clip(fp), key...))
}

// readPageToken returns the sort key a page token of listing fp holds; nil for no token. rpc
// names the listing in the error.
func readPageToken(token string, fp []byte, rpc string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= fingerprintSize {
		return nil, rpcerr.InvalidArgument("page_token", "not a token of "+rpc)
	}
	if !bytes.Equal(raw[:fingerprintSize], fp) {
		return nil, rpcerr.InvalidArgument("page_token", "was issued for other filters: repeat them, or start over without it")
	}
	return raw[fingerprintSize:], nil
}

// checkPageSize is a request's page size: def for 0, else 1..most.
func checkPageSize(field string, n int32, def, most int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || int(n) > most:
		return 0, rpcerr.InvalidArgument(field, fmt.Sprintf("must be 0..%d, got %d", most, n))
	}
	return int(n), nil
}
