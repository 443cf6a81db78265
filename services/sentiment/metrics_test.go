package sentiment_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/metrics"
	"github.com/voix-dev/voix/services/sentiment"
)

// metricValue scrapes url and returns the value of the sample named exactly line (name and
// labels), failing when it is missing.
func metricValue(t *testing.T, url, line string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics lacks %s:\n%s", line, b)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return v
}

// TestMetricsCountReleasesAndHiddenCells: with --metrics-listen, voix_sentiment_releases_total
// counts the aggregates released, from zero, and voix_hidden_cells_served_total the hidden
// aggregates the reads served, exactly as many as the responses held.
func TestMetricsCountReleasesAndHiddenCells(t *testing.T) {
	f := startConfig(t, func(c *sentiment.Config) { c.Ops = host.Ops{MetricsListen: "127.0.0.1:0"} })
	svc := f.svc

	url := "http://" + svc.MetricsAddr() + "/metrics"
	releases := func() float64 { return metricValue(t, url, metrics.Releases.Name+`{service="sentiment"}`) }
	hidden := func() float64 { return metricValue(t, url, `voix_hidden_cells_served_total{service="sentiment"}`) }
	if r, h := releases(), hidden(); r != 0 || h != 0 {
		t.Fatalf("before anything: releases %v, hidden cells %v; want both listed at 0", r, h)
	}

	// Five people in acme/eng/platform, one in acme/eng/data.
	refs := []string{"U1", "U2", "U3", "U4", "U5"}
	for _, ref := range refs {
		f.comment(t, ref, "acme/eng/platform", "Great manager, thanks", commonv1.Dimension_DIMENSION_WORKLOAD)
	}
	f.comment(t, "U9", "acme/eng/data", "Bonne ambiance", commonv1.Dimension_DIMENSION_WORKLOAD)
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, uint64(len(refs)+1))
	if r := releases(); r < 1 {
		t.Fatalf("after a flush that released acme/eng/platform: releases %v, want at least 1", r)
	}

	if a := f.get(t, "acme/eng/platform", commonv1.Dimension_DIMENSION_WORKLOAD); a.Hidden {
		t.Fatalf("acme/eng/platform with five people is hidden: %v", a)
	}
	if h := hidden(); h != 0 {
		t.Fatalf("after reading a shown aggregate: hidden cells %v, want 0", h)
	}
	if a := f.get(t, "acme/eng/data", commonv1.Dimension_DIMENSION_WORKLOAD); !a.Hidden {
		t.Fatalf("acme/eng/data with one person is shown: %v", a)
	}
	if h := hidden(); h != 1 {
		t.Fatalf("after reading one hidden aggregate: hidden cells %v, want 1", h)
	}
	resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme/eng"})
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	for _, row := range resp.Rows {
		for _, c := range row.Cells {
			if c.Hidden {
				want++
			}
		}
	}
	if want == 1 || want != 1+metrics.HiddenAggregates(resp) {
		t.Fatalf("the heatmap of acme/eng holds %d hidden cells (metrics.HiddenAggregates: %d), want some", want-1, metrics.HiddenAggregates(resp))
	}
	if h := hidden(); h != float64(want) {
		t.Fatalf("after a heatmap with %d hidden cells: hidden cells %v, want %d", want-1, h, want)
	}
}
