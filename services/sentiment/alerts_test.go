package sentiment_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

func TestAWeeklyDropRaisesOneAlertPerEpisode(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := 0
	for w := 4; w >= 1; w-- { // four good weeks before now's
		n += len(f.group(t, "acme/sales", 12, now.AddDate(0, 0, -7*w), wl, 5, 4, 5))
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	n += len(f.group(t, "acme/sales", 12, now, wl, 1, 2, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))

	first := f.waitAlert(t, "acme/sales", commonv1.Dimension_DIMENSION_UNSPECIFIED)
	if first.Metric != "score" || first.Baseline <= first.Observed || first.People < 10 || first.People > 12 || first.Window.Key != weekKey(now) {
		// It fires as soon as the week has the 10 items the rule asks for, whichever flush that is.
		t.Fatalf("alert = %v, want a score drop in %s over 10 to 12 people", first, weekKey(now))
	}

	// More bad answers in the same week: still the same episode, no second alert.
	n += len(f.group(t, "acme/sales", 6, now.Add(time.Hour), wl, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	// The same six people answer again (group names people by day and index): 18 answers.
	f.waitUpdated(t, "acme/sales", 18) // flushed: alerts are evaluated in the same transaction
	var mine int
	for _, a := range f.alerts(t, "acme/sales") {
		if a.Segment == "acme/sales" && a.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED && a.Metric == "score" {
			mine++
		}
	}
	if mine != 1 {
		t.Fatalf("%d score alerts for acme/sales overall, want 1 per episode", mine)
	}
	// The alert went out on NATS too, and a manager of another subtree cannot list it.
	msg := f.lastOn(t, events.SentimentAlert, "acme/sales")
	var ev eventsv1.SentimentAlert
	if err := proto.Unmarshal(msg.Data, &ev); err != nil || ev.AlertId == "" {
		t.Fatalf("alert event: %v %v", &ev, err)
	}
	if _, err := f.client.ListAlerts(f.env.As(context.Background(), auth.RoleSubmitter), &sentimentv1.ListAlertsRequest{SegmentPrefix: "acme"}); err == nil {
		t.Fatal("a submitter listed alerts")
	}
}

// TestListAlertsPagesAreStableUnderInserts: a page token holds the sort key of the last alert
// returned (newest first), not an offset, so an alert raised between two pages neither makes
// one listed twice nor one skipped; and a token only continues the listing it came from.
func TestListAlertsPagesAreStableUnderInserts(t *testing.T) {
	f := start(t)
	wl, gr := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH
	n := 0
	for w := 4; w >= 1; w-- { // four good weeks of both dimensions before now's
		at := now.AddDate(0, 0, -7*w)
		n += len(f.group(t, "acme/sales", 12, at, wl, 5, 4, 5))
		n += len(f.group(t, "acme/sales", 12, at, gr, 5, 4, 5))
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	// Workload drops this week: acme/sales raises an alert for all dimensions and one for
	// WORKLOAD.
	n += len(f.group(t, "acme/sales", 12, now, wl, 1, 2, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	before := f.alerts(t, "acme/sales")
	if len(before) < 2 {
		t.Fatalf("%d alerts for acme/sales, want at least 2 to page through", len(before))
	}

	hr := f.env.As(context.Background(), auth.RoleHR)
	list := func(prefix, token string) (*sentimentv1.ListAlertsResponse, error) {
		return f.client.ListAlerts(hr, &sentimentv1.ListAlertsRequest{SegmentPrefix: prefix, PageSize: 1, PageToken: token})
	}
	first, err := list("acme/sales", "")
	if err != nil || len(first.Alerts) != 1 || first.NextPageToken == "" {
		t.Fatalf("first page = %v, %v; want one alert and a token", first, err)
	}

	// An hour later growth drops too: a new alert, newer than every alert listed so far,
	// raised between the first page and the next.
	f.setNow(now.Add(time.Hour))
	n += len(f.group(t, "acme/sales", 12, now, gr, 1, 2, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if after := f.alerts(t, "acme/sales"); len(after) != len(before)+1 || after[0].Dimension != gr {
		t.Fatalf("after the growth drop: %v; want one more alert, for GROWTH, listed first", after)
	}

	seen := map[string]int{first.Alerts[0].AlertId: 1}
	last := first.Alerts[0]
	for token, pages := first.NextPageToken, 1; token != ""; pages++ {
		if pages > len(before) {
			t.Fatalf("more than %d pages of one alert for %d alerts", pages, len(before))
		}
		page, err := list("acme/sales", token)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		for _, a := range page.Alerts {
			seen[a.AlertId]++
			if a.RaisedAt.AsTime().After(last.RaisedAt.AsTime()) {
				t.Errorf("page %d lists %s raised %v after %s raised %v: want newest first", pages+1, a.AlertId, a.RaisedAt.AsTime(), last.AlertId, last.RaisedAt.AsTime())
			}
			last = a
		}
		token = page.NextPageToken
	}
	for _, a := range before {
		if seen[a.AlertId] != 1 {
			t.Errorf("alert %s (%v) listed %d times across the pages, want once", a.AlertId, a.Dimension, seen[a.AlertId])
		}
	}

	// A token continues its own listing only.
	for _, tc := range []struct{ name, prefix, token string }{
		{"another prefix", "acme", first.NextPageToken},
		{"not a token", "acme/sales", base64.RawURLEncoding.EncodeToString([]byte("alerts:1"))},
		{"not base64", "acme/sales", "!!"},
	} {
		_, err := list(tc.prefix, tc.token)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "page_token: ") {
			t.Errorf("%s: %v, want InvalidArgument on page_token", tc.name, err)
		}
	}
}

func (f *fixture) alerts(t *testing.T, prefix string) []*eventsv1.SentimentAlert {
	t.Helper()
	resp, err := f.client.ListAlerts(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.ListAlertsRequest{SegmentPrefix: prefix})
	if err != nil {
		t.Fatalf("ListAlerts: %v", err)
	}
	return resp.Alerts
}

func (f *fixture) waitAlert(t *testing.T, seg string, dim commonv1.Dimension) *eventsv1.SentimentAlert {
	t.Helper()
	var found *eventsv1.SentimentAlert
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, a := range f.alerts(t, seg) {
			if a.Segment == seg && a.Dimension == dim {
				found = a
				return nil
			}
		}
		return fmt.Errorf("no alert for %s/%v", seg, dim)
	})
	return found
}

// waitUpdated waits until the latest SentimentUpdated of seg for now's week counts count items.
func (f *fixture) waitUpdated(t *testing.T, seg string, count uint32) {
	t.Helper()
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		msg, err := f.last(events.SentimentUpdated, seg)
		if err != nil {
			return err
		}
		var u eventsv1.SentimentUpdated
		if err := proto.Unmarshal(msg.Data, &u); err != nil {
			t.Fatalf("decode update: %v", err)
		}
		if u.Aggregate.Count != count || u.Aggregate.Window.Key != weekKey(now) {
			return fmt.Errorf("latest update of %s = %v, want %d items", seg, u.Aggregate, count)
		}
		return nil
	})
}

// lastOn waits for the newest event of kind about seg.
func (f *fixture) lastOn(t *testing.T, kind events.Kind, seg string) *jetstream.RawStreamMsg {
	t.Helper()
	var msg *jetstream.RawStreamMsg
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		msg, err = f.last(kind, seg)
		return err
	})
	return msg
}

// last reads the newest event of kind about seg, if there is one.
func (f *fixture) last(kind events.Kind, seg string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, kind.Stream.Name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", kind.Stream.Name, err)
	}
	subject := kind.Subject(segment.MustParse(seg))
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("nothing on %s: %w", subject, err)
	}
	return msg, nil
}
