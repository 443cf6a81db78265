package pulse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Paging of ListSurveys, the convention of every List RPC (services/feedback/list.go): the
// page token is opaque, bound to the request's filters by a fingerprint, and holds the sort key
// of the last survey returned, so that surveys created between two pages neither repeat nor
// skip one already listed.

// fingerprintSize is the length of a request's fingerprint at the head of its page tokens.
const fingerprintSize = 8

// listQuery is a validated ListSurveys.
type listQuery struct {
	prefix segment.Path
	size   int
	after  []byte // index key of the last survey of the previous page; nil for the first
}

// listFingerprint identifies a listing: the request without its paging fields.
func listFingerprint(req *pulsev1.ListSurveysRequest) ([]byte, error) {
	r := proto.CloneOf(req)
	r.PageSize, r.PageToken = 0, ""
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(data)
	return h[:fingerprintSize], nil
}

// listPageToken is the token of the page after the survey whose index key is key. The key
// holds that survey's audience and id, both of which the caller has just read.
func listPageToken(fp, key []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(slices.Clip(fp), key...))
}

// validateList checks the paging fields of req, whose segment_prefix the caller parsed (and
// checked against the token) into prefix. It returns the query and the request's fingerprint.
func validateList(req *pulsev1.ListSurveysRequest, prefix segment.Path) (listQuery, []byte, error) {
	q := listQuery{prefix: prefix}
	switch {
	case req.PageSize == 0:
		q.size = defaultPageSize
	case req.PageSize < 0 || req.PageSize > maxPageSize:
		return q, nil, rpcerr.InvalidArgument("page_size", fmt.Sprintf("must be 1..%d; 0 means %d", maxPageSize, defaultPageSize))
	default:
		q.size = int(req.PageSize)
	}
	fp, err := listFingerprint(req)
	if err != nil {
		return q, nil, err
	}
	if req.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil || len(raw) <= fingerprintSize {
			return q, nil, rpcerr.InvalidArgument("page_token", "not a token of ListSurveys: pass the next_page_token of a previous response")
		}
		if !bytes.Equal(raw[:fingerprintSize], fp) {
			return q, nil, rpcerr.InvalidArgument("page_token", "was issued for another segment_prefix: repeat it, or start over without a token")
		}
		q.after = raw[fingerprintSize:]
	}
	return q, fp, nil
}
