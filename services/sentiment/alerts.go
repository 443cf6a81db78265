package sentiment

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/alert"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// ruleText states the alert rule in the alerts themselves, so a reader knows what fired.
var ruleText = fmt.Sprintf("weekly %%s at least %%g below the pooled baseline of the %d previous weeks with k people (at least %d such weeks), "+
	"with at least k people and %d items this week, and Welch t above the one-sided 1%%%% critical value",
	alert.BaselineWeeks, alert.MinBaselineWeeks, alert.MinItems)

// evaluateAlerts checks the weekly aggregate k of a shown segment against its baseline, raises
// an alert when a drop episode starts and ends the episode when the drop is gone. It runs in
// the publisher's transaction.
func (s *Service) evaluateAlerts(tx *bolt.Tx, rb rollup.Buckets, k rollup.Key, w window.Window, cur rollup.Stats) error {
	var base []rollup.Stats
	for prev, i := w.Prev(), 0; i < alert.BaselineWeeks; prev, i = prev.Prev(), i+1 {
		st, err := rollup.Get(rb, rollup.Key{Segment: k.Segment, Dimension: k.Dimension, Window: anonymity.ContributorWindow(prev)})
		if err != nil {
			return err
		}
		base = append(base, st)
	}
	fired := map[string]alert.Drop{}
	for _, d := range alert.Detect(base, cur, s.cfg.MinGroupSize) {
		fired[d.Metric] = d
	}
	for _, metric := range []string{alert.MetricScore, alert.MetricENPS} {
		d, fires := fired[metric]
		open := alert.UnsafeOpen(tx, k.Segment, k.Dimension, metric)
		switch {
		case fires && !open:
			if err := s.raise(tx, k, w, cur, d); err != nil {
				return err
			}
		case !fires && open:
			if err := alert.UnsafeClose(tx, k.Segment, k.Dimension, metric); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) raise(tx *bolt.Tx, k rollup.Key, w window.Window, cur rollup.Stats, d alert.Drop) error {
	seg, err := segment.Parse(k.Segment)
	if err != nil {
		return err
	}
	minDrop := alert.MinScoreDrop
	if d.Metric == alert.MetricENPS {
		minDrop = alert.MinENPSDrop
	}
	a := &eventsv1.SentimentAlert{
		AlertId:   rand.Text(),
		Segment:   k.Segment,
		Dimension: commonv1.Dimension(k.Dimension),
		Window:    aggregateProto(k, w, cur, true).Window,
		Metric:    d.Metric,
		Baseline:  d.Baseline,
		Observed:  d.Observed,
		People:    cur.People,
		Rule:      fmt.Sprintf(ruleText, d.Metric, minDrop),
		RaisedAt:  timestamppb.New(s.cfg.Now()),
	}
	if err := alert.UnsafeRaise(tx, a); err != nil {
		return err
	}
	data, err := proto.Marshal(a)
	if err != nil {
		return err
	}
	return s.host.Outbox.Add(tx, bus.Event{
		ID:      events.AlertID(a.AlertId),
		Type:    events.SentimentAlert.Type,
		Source:  events.SentimentAlert.Source,
		Subject: events.SentimentAlert.Subject(seg),
		Time:    s.cfg.Now(),
		Data:    data,
	})
}

// Page sizes of ListAlerts (sentiment.proto).
const (
	defaultAlertPageSize = 50
	maxAlertPageSize     = 200
	fingerprintSize      = 8
)

// alertQuery is a validated ListAlerts.
type alertQuery struct {
	prefix segment.Path
	size   int
	fp     []byte // the listing's fingerprint, which its page tokens carry
	after  []byte // alert.SortKey of the last alert of the previous page; nil for the first
}

// alertFingerprint identifies a listing: the request without its paging fields.
func alertFingerprint(req *sentimentv1.ListAlertsRequest) ([]byte, error) {
	r := proto.CloneOf(req)
	r.PageSize, r.PageToken = 0, ""
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(data)
	return h[:fingerprintSize], nil
}

// alertPageToken is opaque to callers: the listing's fingerprint, so that a cursor is not
// replayed against another listing, then the sort key of the last alert returned (its raise
// time and id, which the caller already saw).
func alertPageToken(fp, key []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(slices.Clip(fp), key...))
}

// validateListAlerts checks the paging fields of req, whose prefix was parsed (and its place
// under the caller's token checked) by the caller.
func validateListAlerts(req *sentimentv1.ListAlertsRequest, prefix segment.Path) (alertQuery, error) {
	q := alertQuery{prefix: prefix}
	switch {
	case req.PageSize == 0:
		q.size = defaultAlertPageSize
	case req.PageSize < 1 || req.PageSize > maxAlertPageSize:
		return q, rpcerr.InvalidArgument("page_size", fmt.Sprintf("must be 1..%d (0 means %d)", maxAlertPageSize, defaultAlertPageSize))
	default:
		q.size = int(req.PageSize)
	}
	fp, err := alertFingerprint(req)
	if err != nil {
		return q, err
	}
	q.fp = fp
	if req.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil || len(raw) < fingerprintSize || !alert.ValidSortKey(raw[fingerprintSize:]) {
			return q, rpcerr.InvalidArgument("page_token", "is not a token from a previous ListAlerts")
		}
		if !bytes.Equal(raw[:fingerprintSize], fp) {
			return q, rpcerr.InvalidArgument("page_token", "was issued for another segment_prefix: repeat it, or start over without a token")
		}
		q.after = raw[fingerprintSize:]
	}
	return q, nil
}

// listAlerts is ListAlerts: one page of the alerts of q.prefix and its subtree, newest first.
// The next page starts after the last alert of this one, wherever alerts raised meanwhile sort.
func (s *Service) listAlerts(_ context.Context, q alertQuery) (*sentimentv1.ListAlertsResponse, error) {
	resp := &sentimentv1.ListAlertsResponse{}
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		alerts, more, err := alert.List(tx, q.prefix, q.after, q.size)
		if err != nil {
			return err
		}
		resp.Alerts = alerts
		if more {
			resp.NextPageToken = alertPageToken(q.fp, alert.SortKey(alerts[len(alerts)-1]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
