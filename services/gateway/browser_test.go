package gateway_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// chromium finds the browser. It is not skipped when missing: CI installs it (.ci/run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: the dashboard's browser test needs it. Install it with " +
		"`apt-get install -y --no-install-recommends chromium` (.ci/run does so in CI)")
	return ""
}

// artifacts is where screenshots go: $VOIX_ARTIFACTS, or a temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VOIX_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserLog collects what the page reports as errors: uncaught exceptions, console.error and
// browser log entries of level error (a failed resource, a CSP violation).
type browserLog struct {
	mu     sync.Mutex
	errors []string
	urls   []string
}

func (b *browserLog) add(kind, msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, kind+": "+msg)
}

func (b *browserLog) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors)
}

func (b *browserLog) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg := ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
		b.add("exception", msg)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			b.add("console."+string(ev.Type), strings.Join(parts, " "))
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			b.add("log", ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *page.EventFrameNavigated:
		b.mu.Lock()
		b.urls = append(b.urls, ev.Frame.URL)
		b.mu.Unlock()
	}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium: log in, read the heatmap
// (and see it refresh live), open the inbox, reply to a comment, create an action plan with
// the loops page's form and move it on; no JavaScript error, no token
// in any URL. Screenshots go to $VOIX_ARTIFACTS.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	out := artifacts(t)
	d := startDashboard(t)
	d.seed(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var blog browserLog
	if err := chromedp.Listen(ctx, blog.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tgt)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, name+".png"), buf, 0o644)
		})
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v (browser errors: %v)", step, err, blog.snapshot())
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	base := d.base()
	hrToken := d.env.Tokens[auth.RoleHR]

	// Log in: the page sends to the form, the token goes in the password field.
	do("open", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")), shot("01-login"))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/login") {
		t.Fatalf("an anonymous visit lands on %s (%v), want /login", loc, err)
	}
	do("log in",
		chromedp.SendKeys(chromedp.ID("token"), hrToken),
		chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.heatmap`)),
		shot("02-heatmap"),
	)

	// The heatmap: acme/eng shows its five people, acme/ops is hidden without numbers.
	if eng := text(`tr[data-segment="acme/eng"]`); !strings.Contains(eng, "n = 5") {
		t.Errorf("acme/eng row reads %q, want n = 5", eng)
	}
	if ops := text(`tr[data-segment="acme/ops"]`); !strings.Contains(ops, "Hidden") || strings.Contains(ops, "n = ") {
		t.Errorf("acme/ops row reads %q, want hidden without numbers", ops)
	}
	if legend := text(`.legend`); !strings.Contains(legend, "fewer than 5 people, or hidden so a small team cannot be worked out") {
		t.Errorf("legend %q does not explain hidden cells", legend)
	}

	// Live: five people of a new team speak; the open page gets its row without a reload.
	for i := range 5 {
		d.comment(t, "acme/support", fmt.Sprintf("support-%d", i), fmt.Sprintf("The ticket queue is overwhelming, week %d", i))
	}
	do("live update", chromedp.WaitVisible(chromedp.CSS(`tr[data-segment="acme/support"]`)), shot("03-heatmap-live"))
	if live := text(`#live-status`); !strings.Contains(live, "New numbers") {
		t.Errorf("live status %q, want the update announced", live)
	}

	// On a phone.
	do("phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`table.heatmap`)), shot("04-heatmap-phone"),
		chromedp.EmulateViewport(1280, 900),
	)

	// Trends and a survey's results.
	do("trends", chromedp.Navigate(base+"/trends?segment=acme/eng"), chromedp.WaitVisible(chromedp.CSS(`svg.trend polyline, svg.trend circle`)), shot("05-trends"))
	do("survey", chromedp.Navigate(base+"/surveys/"+d.surveyID), chromedp.WaitVisible(chromedp.CSS(`section.question`)), shot("06-survey"))

	// The inbox: reply to a comment.
	comment := platformTexts[3]
	list, err := d.feedback.ListFeedback(d.env.As(context.Background(), auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range list.Feedback {
		if c.Text == comment {
			id = c.Id
		}
	}
	if id == "" {
		t.Fatalf("no comment %q", comment)
	}
	const answer = "We hear you: two more people join the platform team in March."
	do("reply in the inbox",
		chromedp.Navigate(base+"/inbox"),
		chromedp.WaitVisible(chromedp.ID("c-"+id)),
		chromedp.Click(chromedp.CSS(`#c-`+id+` details summary`)),
		chromedp.WaitVisible(chromedp.ID("reply-"+id)),
		chromedp.SendKeys(chromedp.ID("reply-"+id), answer),
		shot("07-inbox-reply"),
		chromedp.Click(chromedp.CSS(`#c-`+id+` form.reply button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
		shot("08-inbox-replied"),
	)
	th, err := d.feedback.GetThread(d.env.As(context.Background(), auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: d.threads[comment]})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(th.Messages); n == 0 || th.Messages[n-1].Text != answer || th.Messages[n-1].Author != feedbackv1.Author_AUTHOR_RESPONDER {
		t.Fatalf("the author's thread %v does not end with the reply", th.Messages)
	}

	// An action plan through the loops page's form, then moved on.
	do("create a plan",
		chromedp.Navigate(base+"/loops"),
		chromedp.WaitVisible(chromedp.CSS(`details.plan-new summary`)),
		chromedp.Click(chromedp.CSS(`details.plan-new summary`)),
		chromedp.WaitVisible(chromedp.ID("plan-title")),
		chromedp.SetValue(chromedp.ID("plan-segment"), "acme/eng"),
		chromedp.SetValue(chromedp.ID("plan-dimension"), fmt.Sprint(int32(commonv1.Dimension_DIMENSION_WORKLOAD))),
		chromedp.SendKeys(chromedp.ID("plan-title"), "Two more people on the platform team"),
		chromedp.SendKeys(chromedp.ID("plan-description"), "Hiring opens in January."),
		chromedp.SendKeys(chromedp.ID("plan-owner"), "eng-leads"),
		chromedp.SetValue(chromedp.ID("plan-due"), "2027-02-01"),
		chromedp.SendKeys(chromedp.ID("plan-comments"), id),
		shot("08b-plan-form"),
		chromedp.Click(chromedp.CSS(`form.plan-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	plans, err := d.feedback.ListActionPlans(d.env.As(context.Background(), auth.RoleHR), &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans.Plans) != 1 || plans.Plans[0].Title != "Two more people on the platform team" || plans.Plans[0].OwnerGroup != "eng-leads" ||
		plans.Plans[0].Dimension != commonv1.Dimension_DIMENSION_WORKLOAD || len(plans.Plans[0].GetLinks().GetFeedbackIds()) != 1 {
		t.Fatalf("after the browser's form the service holds %v", plans.Plans)
	}
	planID := plans.Plans[0].Id
	do("move the plan on",
		chromedp.Click(chromedp.CSS(`#plan-`+planID+` details summary`)),
		chromedp.WaitVisible(chromedp.ID("plan-note-"+planID)),
		chromedp.SetValue(chromedp.ID("plan-status-"+planID), fmt.Sprint(int32(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS))),
		chromedp.SendKeys(chromedp.ID("plan-note-"+planID), "Job posted."),
		chromedp.Click(chromedp.CSS(`#plan-`+planID+` form.plan-update button[type=submit]`)),
		// The note's line appears only on the page after the update.
		chromedp.WaitVisible(chromedp.CSS(`#plan-`+planID+` p.note`)),
		shot("08c-plan-updated"),
	)
	if row := text(`#plan-` + planID); !strings.Contains(row, "Job posted.") {
		t.Errorf("the plan's row after the update reads %q", row)
	}

	// French, through the language link.
	do("french",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`a.lang`)),
		chromedp.Click(chromedp.CSS(`a.lang`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="fr"] table.heatmap`)),
		shot("09-heatmap-fr"),
	)
	if h1 := text(`h1`); h1 != "Carte de chaleur" {
		t.Errorf("French heading %q", h1)
	}
	// The session cookie is out of reach of scripts.
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cookies, "voix_session") || strings.Contains(cookies, hrToken) {
		t.Errorf("scripts read the session cookie: %q", cookies)
	}

	blog.mu.Lock()
	defer blog.mu.Unlock()
	if len(blog.errors) > 0 {
		t.Errorf("the browser logged errors:\n%s", strings.Join(blog.errors, "\n"))
	}
	if len(blog.urls) == 0 {
		t.Error("no navigation was recorded")
	}
	for _, u := range blog.urls {
		if strings.Contains(u, hrToken) || strings.Contains(strings.ToLower(u), "token=") {
			t.Errorf("a URL holds the token: %s", u)
		}
	}
	t.Logf("screenshots in %s", out)
}
