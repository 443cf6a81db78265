package feedback

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

// Page sizes of ListFeedback (feedback.proto).
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// listQuery is a validated ListFeedback.
type listQuery struct {
	prefix     segment.Path
	statuses   []commonv1.FeedbackStatus
	dims       []commonv1.Dimension
	labels     []commonv1.SentimentLabel
	hasRisk    bool
	owner      string    // "" for any
	start, end time.Time // start is a day; end an exclusive instant; zero means open
	size       int
	after      []byte // by_day key of the last comment of the previous page
}

// validateList checks every field of req; the prefix's place under the caller's token is
// checked by the caller.
func validateList(req *feedbackv1.ListFeedbackRequest) (listQuery, []byte, error) {
	var q listQuery
	p, err := segment.Parse(req.SegmentPrefix)
	if err != nil {
		return q, nil, rpcerr.InvalidArgument("segment_prefix", err.Error())
	}
	q.prefix = p
	for i, st := range req.Statuses {
		f := fmt.Sprintf("statuses[%d]", i)
		if _, ok := commonv1.FeedbackStatus_name[int32(st)]; !ok || st == commonv1.FeedbackStatus_FEEDBACK_STATUS_UNSPECIFIED {
			return q, nil, rpcerr.InvalidArgument(f, "must be a known status; leave the list empty for any")
		}
		q.statuses = append(q.statuses, st)
	}
	if q.dims, err = checkDimensions("dimensions", req.Dimensions); err != nil {
		return q, nil, err
	}
	for i, l := range req.Labels {
		// UNSPECIFIED is a real filter here: comments not scored yet.
		if _, ok := commonv1.SentimentLabel_name[int32(l)]; !ok {
			return q, nil, rpcerr.InvalidArgument(fmt.Sprintf("labels[%d]", i), fmt.Sprintf("unknown label %d", l))
		}
		q.labels = append(q.labels, l)
	}
	q.hasRisk = req.HasRisk
	if req.OwnerGroup != "" {
		if err := checkOwnerGroup("owner_group", req.OwnerGroup); err != nil {
			return q, nil, err
		}
		q.owner = req.OwnerGroup
	}
	if req.StartTime != nil {
		if err := req.StartTime.CheckValid(); err != nil {
			return q, nil, rpcerr.InvalidArgument("start_time", err.Error())
		}
		q.start = window.Of(window.Day, req.StartTime.AsTime()).Start
	}
	if req.EndTime != nil {
		if err := req.EndTime.CheckValid(); err != nil {
			return q, nil, rpcerr.InvalidArgument("end_time", err.Error())
		}
		q.end = req.EndTime.AsTime()
		if !q.start.IsZero() && !q.end.After(q.start) {
			return q, nil, rpcerr.InvalidArgument("end_time", "must be after the day of start_time")
		}
	}
	var fp []byte
	if q.size, fp, q.after, err = page.Open(req, "ListFeedback", defaultPageSize, maxPageSize); err != nil {
		return q, nil, err
	}
	if q.after != nil && !bytes.HasPrefix(q.after, store.DayPrefix(p.Org())) {
		return q, nil, rpcerr.InvalidArgument("page_token", "not a token of ListFeedback")
	}
	return q, fp, nil
}

// matches applies the filters but the prefix and the time range to a stored comment.
func (q listQuery) matches(c *store.Comment) bool {
	if len(q.statuses) > 0 && !slices.Contains(q.statuses, c.Status) {
		return false
	}
	if len(q.labels) > 0 && !slices.Contains(q.labels, c.SentimentLabel) {
		return false
	}
	if q.owner != "" && c.OwnerGroup != q.owner {
		return false
	}
	if q.hasRisk && len(c.Risks) == 0 {
		return false
	}
	if len(q.dims) > 0 && !slices.ContainsFunc(q.dims, func(d commonv1.Dimension) bool { return slices.Contains(c.Dimensions, d) }) {
		return false
	}
	return true
}

// list returns one page of the comments shown under q.prefix, newest day first and in the
// keyed shuffle order within a day. A comment is listed when the segment it is shown under is
// within the prefix, so a prefix below the comment threshold lists nothing rather than the
// comments of a small team.
func (s *Service) list(_ context.Context, q listQuery, fp []byte) (*feedbackv1.ListFeedbackResponse, error) {
	out := &feedbackv1.ListFeedbackResponse{}
	prefix := store.DayPrefix(q.prefix.Org())
	var from []byte
	switch {
	case q.after != nil:
		from = append(bytes.Clone(q.after), 0) // the first key after it
	case !q.end.IsZero():
		last := window.Of(window.Day, q.end.Add(-time.Nanosecond)).Start
		from = store.DayKey(q.prefix.Org(), last, make([]byte, store.ShuffleSize), "")
	}
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		pl, err := s.placementOf(tx, orgOf(q.prefix))
		if err != nil {
			return err
		}
		var last []byte
		// Below the organisation, whether a comment is shown within the prefix depends on its
		// author's segment alone: read that first, and decode only the comments shown within.
		whole := q.prefix.Depth() == 1
		within := map[string]bool{} // author segment -> shown within the prefix
		return q.scan(tx, from, func(k, author []byte) (bool, error) {
			day, id, ok := store.SplitDayKey(prefix, k)
			if !ok {
				return true, nil
			}
			if !q.start.IsZero() && day.Before(q.start) {
				return false, nil
			}
			if !q.end.IsZero() && !day.Before(q.end) {
				return true, nil
			}
			if !whole {
				if len(author) == 0 { // an entry written before by_day kept the author
					a, err := store.CommentAuthor(tx, id)
					if err != nil {
						return false, err
					}
					author = []byte(a)
				}
				in, seen := within[string(author)]
				if !seen {
					p, err := segment.Parse(string(author))
					if err != nil {
						return false, fmt.Errorf("comment %s: author segment: %w", id, err)
					}
					in = pl.of(p).Within(q.prefix)
					within[string(author)] = in
				}
				if !in {
					return true, nil
				}
			}
			c, err := store.GetComment(tx, id)
			if err != nil {
				return false, err
			}
			if !q.matches(c) {
				return true, nil
			}
			view, shown := pl.view(c)
			if !shown.Within(q.prefix) {
				return true, nil
			}
			if len(out.Feedback) == q.size {
				// One more match exists: the page is full and there is a next one.
				out.NextPageToken = page.Token(fp, last)
				return false, nil
			}
			out.Feedback = append(out.Feedback, view)
			last = bytes.Clone(k)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan calls fn with the by_day key of each comment of the organisation of q that may match
// q, from start on, in by_day order: the keys of an index of one of q's filters (by_filter)
// when q has one, so that a filter that matches rarely does not read every comment it skips;
// else every key of by_day. The caller still applies every filter to the comment itself.
// Which index is read changes the work, never the order or the result.
func (q listQuery) scan(tx store.ReadTx, start []byte, fn func(k, author []byte) (bool, error)) error {
	org := q.prefix.Org()
	var fs []store.Filter
	switch {
	case q.owner != "":
		fs = append(fs, store.OwnerFilter(q.owner))
	case len(q.dims) > 0:
		for _, d := range q.dims {
			fs = append(fs, store.DimensionFilter(d))
		}
	case len(q.statuses) > 0:
		for _, st := range q.statuses {
			fs = append(fs, store.StatusFilter(st))
		}
	default:
		return store.ScanDayEntries(tx, store.DayPrefix(org), start, fn)
	}
	return store.ScanFiltered(tx, org, fs, start, fn)
}
