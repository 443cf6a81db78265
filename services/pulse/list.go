package pulse

import (
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Paging of ListSurveys follows the convention of every List RPC (services/platform/page):
// the page token is opaque, bound to the request's filters by a fingerprint, and holds the
// sort key of the last survey returned, so that surveys created between two pages neither
// repeat nor skip one already listed.

// listQuery is a validated ListSurveys.
type listQuery struct {
	prefix segment.Path
	size   int
	after  []byte // index key of the last survey of the previous page; nil for the first
}

// validateList checks the paging fields of req, whose segment_prefix the caller parsed (and
// checked against the token) into prefix. It returns the query and the request's fingerprint.
func validateList(req *pulsev1.ListSurveysRequest, prefix segment.Path) (listQuery, []byte, error) {
	q := listQuery{prefix: prefix}
	var err error
	var fp []byte
	if q.size, fp, q.after, err = page.Open(req, "ListSurveys", defaultPageSize, maxPageSize); err != nil {
		return q, nil, err
	}
	return q, fp, nil
}
