package sentiment

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/page"
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
	// One alert per metric, segment, dimension and window: a drop that fires again in the
	// same week (after its episode ended, or when a rebuild evaluates it again) reopens the
	// episode of the alert already raised, with no new alert and no new id.
	id := alert.ID(d.Metric, k.Segment, k.Dimension, k.Window)
	if alert.Raised(tx, id) {
		return alert.UnsafeReopen(tx, k.Segment, k.Dimension, d.Metric, id)
	}
	a := &eventsv1.SentimentAlert{
		AlertId:   id,
		Segment:   k.Segment,
		Dimension: commonv1.Dimension(k.Dimension),
		Window:    aggregateProto(k, w, cur, true, s.cfg.MinGroupSize).Window,
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
)

// alertQuery is a validated ListAlerts.
type alertQuery struct {
	prefix segment.Path
	size   int
	fp     []byte // the listing's fingerprint, which its page tokens carry
	after  []byte // alert.SortKey of the last alert of the previous page; nil for the first
}

// validateListAlerts checks the paging fields of req, whose prefix was parsed (and its place
// under the caller's token checked) by the caller.
func validateListAlerts(req *sentimentv1.ListAlertsRequest, prefix segment.Path) (alertQuery, error) {
	q := alertQuery{prefix: prefix}
	var err error
	if q.size, q.fp, q.after, err = page.Open(req, "ListAlerts", defaultAlertPageSize, maxAlertPageSize); err != nil {
		return q, err
	}
	if q.after != nil && !alert.ValidSortKey(q.after) {
		return q, rpcerr.InvalidArgument("page_token", "not a token of ListAlerts")
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
			resp.NextPageToken = page.Token(q.fp, alert.SortKey(alerts[len(alerts)-1]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
