package gateway_test

import (
	"context"
	"fmt"
	"html"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment"
)

// seedMirror records customer signals for acme/eng/platform once the sentiment service holds
// the registry: CSAT with 10 responses in each of the last four weeks, NPS with 3 (below k)
// this week. It returns the CSAT values by week key.
func (d *dash) seedMirror(t *testing.T) map[string]float64 {
	t.Helper()
	admin := d.env.As(context.Background(), auth.RoleAdmin)
	now := time.Now().UTC()
	record := func(sig *sentimentv1.CustomerSignal) error {
		_, err := d.sentiment.RecordCustomerSignal(admin, &sentimentv1.RecordCustomerSignalRequest{Signal: sig})
		return err
	}
	csat := map[string]float64{}
	for w := range 4 {
		at := now.AddDate(0, 0, -7*w)
		sig := &sentimentv1.CustomerSignal{Segment: "acme/eng/platform", Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT,
			Value: 70 + float64(w)*5, Responses: 10, Time: timestamppb.New(at), SourceId: fmt.Sprintf("csat-%d", w)}
		// The registry reaches the sentiment service through its own consumer.
		poll.Until(t, 15*time.Second, 20*time.Millisecond, func() error { return record(sig) })
		y, wk := at.ISOWeek()
		csat[fmt.Sprintf("%d-W%02d", y, wk)] = sig.Value
	}
	if err := record(&sentimentv1.CustomerSignal{Segment: "acme/eng/platform", Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_NPS,
		Value: 30, Responses: 3, Time: timestamppb.New(now), SourceId: "nps"}); err != nil {
		t.Fatal(err)
	}
	return csat
}

// panel returns the HTML of the mirror panel of seg and metric, or "".
func panel(body, seg, metric string) string {
	m := regexp.MustCompile(`(?s)<section class="mirror-team card" data-segment="` + regexp.QuoteMeta(seg) +
		`" data-metric="` + metric + `">(.*?)</section>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// weekRow returns the row of week key in a panel's weekly table.
func weekRow(panel, key string) string {
	m := regexp.MustCompile(`(?s)<tr>\s*<th scope="row">` + key + `</th>(.*?)</tr>`).FindStringSubmatch(panel)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestMirrorPage: HR sees a panel per team and metric, with the employees' released week
// beside the customer values, hidden customer weeks below k, and correlations that need more
// weeks than the team has.
func TestMirrorPage(t *testing.T) {
	d := startDashboard(t)
	d.seed(t)
	csat := d.seedMirror(t)
	hr := d.env.As(context.Background(), auth.RoleHR)
	cur, err := d.sentiment.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "acme/eng/platform"})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Aggregate.ScoreHidden {
		t.Fatalf("acme/eng/platform's week is not released: %v", cur.Aggregate)
	}

	cookie := d.session(t, d.env.Tokens[auth.RoleHR])
	code, body, _ := d.get(t, "/mirror?segment=acme", []*http.Cookie{cookie})
	if code != http.StatusOK {
		t.Fatalf("GET /mirror: HTTP %d\n%s", code, body)
	}
	if !strings.Contains(body, `href="/mirror"`) && !strings.Contains(body, `href="/mirror?`) {
		t.Error("the menu has no link to the mirror")
	}
	p := panel(body, "acme/eng/platform", "CUSTOMER_METRIC_CSAT")
	if p == "" {
		t.Fatalf("no CSAT panel for acme/eng/platform:\n%s", body)
	}
	key := cur.Aggregate.Window.Key
	row := weekRow(p, key)
	mean := strconv.FormatFloat(math.Abs(cur.Aggregate.MeanScore), 'f', 2, 64) // shown signed
	value := strconv.FormatFloat(csat[key], 'f', 1, 64)
	if !strings.Contains(row, mean) || !strings.Contains(row, value) || !strings.Contains(row, "10 responses") {
		t.Errorf("week %s reads %q; want the employees' mean %s beside CSAT %s from 10 responses", key, row, mean, value)
	}
	if !strings.Contains(p, "Not enough weeks") {
		t.Errorf("the correlations of one released week should say there are not enough: %s", p)
	}
	nps := panel(body, "acme/eng/platform", "CUSTOMER_METRIC_NPS")
	if r := weekRow(nps, key); !strings.Contains(r, "Hidden") || strings.Contains(r, "30.0") {
		t.Errorf("NPS from 3 responses reads %q; want hidden", r)
	}

	// A manager of another subtree is refused by the service, and the page says so.
	code, _, _ = d.get(t, "/mirror?segment=acme", []*http.Cookie{d.session(t, d.env.SubtreeManager)})
	if code != http.StatusForbidden {
		t.Errorf("a manager of acme/eng reading acme's mirror: HTTP %d, want 403", code)
	}
}

// TestMirrorInBrowser opens the mirror in headless Chromium: the panels render, with no
// browser error (the page's CSP allows no inline style or script).
func TestMirrorInBrowser(t *testing.T) {
	exe := chromium(t)
	out := artifacts(t)
	d := startDashboard(t)
	d.seed(t)
	d.seedMirror(t)

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var blog browserLog
	if err := chromedp.Listen(ctx, blog.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(d.base()+"/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), d.env.Tokens[auth.RoleHR]),
		chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.heatmap`)),
		chromedp.Navigate(d.base()+"/mirror?segment=acme"),
		chromedp.WaitVisible(chromedp.CSS(`section.mirror-team[data-segment="acme/eng/platform"] table.mirror-corr`)),
		chromedp.Click(chromedp.CSS(`section.mirror-team[data-metric="CUSTOMER_METRIC_CSAT"] details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`section.mirror-team[data-metric="CUSTOMER_METRIC_CSAT"] table.mirror-weeks`)),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tgt)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, "10-mirror.png"), buf, 0o644)
		}),
	)
	if err != nil {
		t.Fatalf("mirror page: %v (browser errors: %v)", err, blog.snapshot())
	}
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil || h1 != "Customer mirror" {
		t.Errorf("heading %q (%v)", h1, err)
	}
	if errs := blog.snapshot(); len(errs) > 0 {
		t.Errorf("the browser logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestMirrorLabelsMonths: where the sentiment service publishes months, the mirror's windows
// are months, and the page says so: lags, the windows' column and the explanations name months
// (in English and French), never weeks.
func TestMirrorLabelsMonths(t *testing.T) {
	d := startDashboardWith(t, dashOptions{sentiment: func(c *sentiment.Config) { c.Publish = window.Month }})
	d.registerWithPulse(t)
	d.seedMirror(t)
	cookie := d.session(t, d.env.Tokens[auth.RoleHR])
	month := time.Now().UTC().Format("2006-01")
	for lang, want := range map[string][]string{
		"en": {"Customers +1 mo", "Customers +2 mo", "Not enough months", `<th scope="col">Month</th>`, "one and two months after"},
		"fr": {"Clients +1 mois", "Clients +2 mois", "Pas assez de mois", `<th scope="col">Mois</th>`, "un et deux mois après"},
	} {
		code, body, _ := d.get(t, "/mirror?segment=acme", []*http.Cookie{cookie}, "Accept-Language", lang)
		if code != http.StatusOK {
			t.Fatalf("GET /mirror (%s): HTTP %d\n%s", lang, code, body)
		}
		p := panel(body, "acme/eng/platform", "CUSTOMER_METRIC_CSAT")
		if p == "" || weekRow(p, month) == "" {
			t.Fatalf("%s: no CSAT panel with a row for month %s:\n%s", lang, month, body)
		}
		body, p = html.UnescapeString(body), html.UnescapeString(p)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the monthly mirror lacks %q", lang, w)
			}
		}
		// The range selector reads in months too: 12 weeks is offered as 3 months.
		sel := regexp.MustCompile(`(?s)<label for="weeks">([^<]*)</label>.*?<option value="12"[^>]*>([^<]*)</option>`).FindStringSubmatch(body)
		if wantLabel := map[string]string{"en": "Months", "fr": "Mois"}[lang]; sel == nil || sel[1] != wantLabel || sel[2] != "3" {
			t.Errorf("%s: the monthly mirror's range selector = %q, want label %q and 12 weeks offered as 3", lang, sel, wantLabel)
		}
		for _, bad := range []string{"wk", "sem.", "Not enough weeks", "Pas assez de semaines", `<th scope="col">Week</th>`, `<th scope="col">Semaine</th>`} {
			if strings.Contains(p, bad) {
				t.Errorf("%s: the monthly CSAT panel speaks of weeks (%q):\n%s", lang, bad, p)
			}
		}
	}
}
