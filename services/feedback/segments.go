package feedback

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// Page sizes of ListSegments (feedback.proto).
const (
	defaultSegmentPage = 200
	maxSegmentPage     = 1000
)

// segmentCursor is ListSegments' page token: the prefix and the last path returned, so that a
// cursor from one prefix is not replayed against another.
func segmentCursor(prefix, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + "\x00" + last))
}

func (a *api) ListSegments(ctx context.Context, req *feedbackv1.ListSegmentsRequest) (*feedbackv1.ListSegmentsResponse, error) {
	p, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = defaultSegmentPage
	case size < 0 || size > maxSegmentPage:
		return nil, rpcerr.InvalidArgument("page_size", fmt.Sprintf("must be 0..%d, got %d", maxSegmentPage, req.PageSize))
	}
	var after string
	if req.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		prefix, last, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok || prefix != p.String() {
			return nil, rpcerr.InvalidArgument("page_token", "not a token of ListSegments for this segment_prefix")
		}
		after = last
	}
	principal, _ := auth.FromContext(ctx)
	withCounts := principal.Role != auth.RoleSubmitter
	out := &feedbackv1.ListSegmentsResponse{}
	err = a.svc.host.DB.View(func(tx *bolt.Tx) error {
		return store.UnsafeScanHeadcounts(tx, p.String(), after, func(path string, n uint32) bool {
			if len(out.Segments) == size {
				out.NextPageToken = segmentCursor(p.String(), out.Segments[size-1].Path)
				return false
			}
			s := &feedbackv1.Segment{Path: path}
			if withCounts {
				s.Headcount = n
			}
			out.Segments = append(out.Segments, s)
			return true
		})
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return out, nil
}
