package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
	"github.com/voix-dev/voix/services/sentiment"
)

// dash is a gateway with the dashboard in front of real feedback, pulse and sentiment
// services, all in this process on one NATS server.
type dash struct {
	*fixture
	pulse     pulsev1.PulseServiceClient
	sentiment sentimentv1.SentimentServiceClient
	// client never follows redirects, so tests see every Location and Set-Cookie.
	client *http.Client
	// Seeded by seed: follow-up tokens by comment text, and the survey's id.
	threads  map[string]string
	surveyID string
}

// dashHeadcounts are the registered segments: every team can show comments (at least 10
// people), so comments are shown under their author's team.
var dashHeadcounts = map[string]uint32{
	"acme": 200, "acme/eng": 60, "acme/eng/platform": 30, "acme/eng/web": 30,
	"acme/ops": 40, "acme/sales": 50, "acme/support": 20,
}

// Comment texts of the seed, by team. Five people in acme/eng/platform, two in acme/ops.
var (
	platformTexts = []string{
		"Too many meetings, the workload is crushing us this sprint",
		"On call every other week is exhausting and stressful",
		"Deadlines keep moving and we work late every evening",
		"The workload is not sustainable, we are burning out",
		"We are understaffed and overworked, please hire",
	}
	opsTexts = []string{"The night shifts are too long", "Nobody thanks the ops team"}
)

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
}

func startDashboard(t *testing.T) *dash {
	t.Helper()
	return startDashboardWith(t, dashOptions{})
}

// dashOptions change the services' Configs of startDashboardWith; nil ones leave them.
type dashOptions struct {
	feedback  func(*feedback.Config)
	sentiment func(*sentiment.Config)
}

// startDashboardWith is startDashboard with the services' Configs changed by opts.
func startDashboardWith(t *testing.T, opts dashOptions) *dash {
	t.Helper()
	f := startWith(t, "", opts.feedback)
	p, err := pulse.Start(context.Background(), pulse.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	scfg := sentiment.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig()}
	if opts.sentiment != nil {
		opts.sentiment(&scfg)
	}
	sn, err := sentiment.Start(context.Background(), scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	f.configure = func(c *gateway.Config) { c.SentimentAddr = sn.Addr() }
	f.restartGateway(t, p.Addr())
	return &dash{
		fixture:   f,
		pulse:     pulsev1.NewPulseServiceClient(servicetest.Dial(t, p.Addr())),
		sentiment: sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, sn.Addr())),
		client:    noRedirect(),
		threads:   map[string]string{},
	}
}

func (d *dash) base() string { return "http://" + d.gw.Addr() }

// registerWithPulse sets headcounts through the registry (pulse) and waits until the feedback
// service holds them.
func (d *dash) registerWithPulse(t *testing.T) {
	t.Helper()
	hr := d.env.As(context.Background(), auth.RoleHR)
	for path, n := range dashHeadcounts {
		if _, err := d.pulse.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: path, Headcount: n}); err != nil {
			t.Fatalf("UpsertSegment %s: %v", path, err)
		}
	}
	poll.Until(t, 15*time.Second, 20*time.Millisecond, func() error {
		resp, err := d.feedback.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme", PageSize: 1000})
		if err != nil {
			return err
		}
		got := map[string]uint32{}
		for _, s := range resp.Segments {
			got[s.Path] = s.Headcount
		}
		for path, n := range dashHeadcounts {
			if got[path] != n {
				return fmt.Errorf("feedback holds %s = %d, want %d", path, got[path], n)
			}
		}
		return nil
	})
}

// comment submits text for person ref in seg, tagged WORKLOAD, and keeps its follow-up token.
func (d *dash) comment(t *testing.T, seg, ref, text string) {
	t.Helper()
	resp, err := d.feedback.SubmitFeedback(d.env.As(context.Background(), auth.RoleSubmitter), &feedbackv1.SubmitFeedbackRequest{
		Segment: seg, Text: text, SubmitterRef: ref, Language: "en",
		Dimensions: []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD},
	})
	if err != nil {
		t.Fatalf("SubmitFeedback %s: %v", seg, err)
	}
	d.threads[text] = resp.FollowUpToken
}

// seed registers the teams, files comments (five people in acme/eng/platform, two in
// acme/ops), runs a survey wave answered by the same five and five people of acme/sales and
// closes it, then waits until the sentiment service has released acme/eng's WORKLOAD cell.
func (d *dash) seed(t *testing.T) {
	t.Helper()
	d.registerWithPulse(t)
	for i, text := range platformTexts {
		d.comment(t, "acme/eng/platform", fmt.Sprintf("platform-%d", i), text)
	}
	for i, text := range opsTexts {
		d.comment(t, "acme/ops", fmt.Sprintf("ops-%d", i), text)
	}
	hr := d.env.As(context.Background(), auth.RoleHR)
	sv, err := d.pulse.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title:    &commonv1.LocalizedText{Translations: map[string]string{"en": "Quarterly pulse", "fr": "Pulse trimestriel"}},
		Audience: "acme", Cadence: pulsev1.Cadence_CADENCE_ONCE, DefaultLanguage: "en",
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Hour))},
		Questions: []*pulsev1.Question{
			{Id: "load", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Text: lt("My workload is manageable")},
			{Id: "enps", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Text: lt("Would you recommend us?")},
		},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	d.surveyID = sv.Survey.Id
	sub := d.env.As(context.Background(), auth.RoleSubmitter)
	answer := func(seg, ref string, scale, enps int32) {
		_, err := d.pulse.SubmitResponse(sub, &pulsev1.SubmitResponseRequest{
			SurveyId: d.surveyID, Segment: seg, SubmitterRef: ref,
			Answers: []*pulsev1.Answer{
				{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: scale}},
				{QuestionId: "enps", Value: &pulsev1.Answer_Enps{Enps: enps}},
			},
		})
		if err != nil {
			t.Fatalf("SubmitResponse %s: %v", seg, err)
		}
	}
	for i := range 5 {
		answer("acme/eng/platform", fmt.Sprintf("platform-%d", i), int32(1+i%3), int32(4+i))
		answer("acme/sales", fmt.Sprintf("sales-%d", i), int32(3+i%3), int32(6+i))
	}
	if _, err := d.pulse.CloseSurvey(hr, &pulsev1.CloseSurveyRequest{SurveyId: d.surveyID}); err != nil {
		t.Fatalf("CloseSurvey: %v", err)
	}
	d.waitCell(t, hr, "acme", "acme/eng", commonv1.Dimension_DIMENSION_WORKLOAD, 5)
}

// waitCell waits until the heatmap under prefix shows row's dim cell with people people.
func (d *dash) waitCell(t *testing.T, ctx context.Context, prefix, row string, dim commonv1.Dimension, people uint32) {
	t.Helper()
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := d.sentiment.GetHeatmap(ctx, &sentimentv1.GetHeatmapRequest{SegmentPrefix: prefix})
		if err != nil {
			return err
		}
		for _, r := range resp.Rows {
			for _, c := range r.Cells {
				if r.Segment == row && c.Dimension == dim {
					if c.Hidden || c.People != people {
						return fmt.Errorf("%s %v = %+v, want %d people shown", row, dim, c, people)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no row %s under %s yet", row, prefix)
	})
}

// login posts token to the login form and returns the response.
func (d *dash) login(t *testing.T, token string) *http.Response {
	t.Helper()
	resp, err := d.client.PostForm(d.base()+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// session logs in with token and returns the session cookie.
func (d *dash) session(t *testing.T, token string) *http.Cookie {
	t.Helper()
	resp := d.login(t, token)
	for _, c := range resp.Cookies() {
		if c.Name == gateway.SessionCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login: HTTP %d without a session cookie", resp.StatusCode)
	return nil
}

// get fetches path with the cookies and extra headers (name, value, ...).
func (d *dash) get(t *testing.T, path string, cookies []*http.Cookie, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.base()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// post sends a form to path with the cookie and extra headers.
func (d *dash) post(t *testing.T, path string, cookie *http.Cookie, form url.Values, headers ...string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.base()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

var (
	csrfRE    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	articleRE = regexp.MustCompile(`(?s)<article id="c-([A-Z2-7]+)"[^>]*>(.*?)</article>`)
)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page has no CSRF field:\n%s", body)
	}
	return m[1]
}

// commentID finds the id of the inbox comment holding text.
func commentID(t *testing.T, body, text string) string {
	t.Helper()
	for _, m := range articleRE.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[2], text) {
			return m[1]
		}
	}
	t.Fatalf("the inbox does not list %q:\n%s", text, body)
	return ""
}

// row returns the cells (<td>…</td>) of the heatmap row of seg, or nil.
func row(body, seg string) []string {
	m := regexp.MustCompile(`(?s)<tr data-segment="` + regexp.QuoteMeta(seg) + `">(.*?)</tr>`).FindStringSubmatch(body)
	if m == nil {
		return nil
	}
	return regexp.MustCompile(`(?s)<td.*?</td>`).FindAllString(m[1], -1)
}

func TestDashboardLogin(t *testing.T) {
	f := start(t, "")
	d := &dash{fixture: f, client: noRedirect()}
	// Without a session, pages send to the login form.
	if code, _, h := d.get(t, "/", nil); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("GET / without a session: HTTP %d to %q, want 303 to /login", code, h.Get("Location"))
	}
	if code, body, _ := d.get(t, "/login", nil); code != http.StatusOK || !strings.Contains(body, `type="password"`) || !strings.Contains(body, `name="token"`) {
		t.Fatalf("GET /login: HTTP %d, want a form with a password field named token:\n%s", code, body)
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"unknown token", "voix_not-a-token-at-all", http.StatusUnauthorized},
		{"empty", "", http.StatusUnauthorized},
		{"submitter token", f.env.Tokens[auth.RoleSubmitter], http.StatusForbidden},
	} {
		resp := d.login(t, tc.token)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: refused login set cookies %v", tc.name, resp.Cookies())
		}
	}
	// A token in a URL is never read.
	hr := f.env.Tokens[auth.RoleHR]
	if code, _, h := d.get(t, "/login?token="+url.QueryEscape(hr), nil); code != http.StatusOK || h.Get("Set-Cookie") != "" {
		t.Errorf("GET /login?token=: HTTP %d, Set-Cookie %q; want the form and no session", code, h.Get("Set-Cookie"))
	}

	resp := d.login(t, hr)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("hr login: HTTP %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == gateway.SessionCookie {
			c = rc
		}
	}
	switch {
	case c == nil:
		t.Fatal("hr login set no session cookie")
	case !c.HttpOnly, c.SameSite != http.SameSiteStrictMode, c.Path != "/":
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	case c.Secure:
		t.Errorf("session cookie over plain HTTP is Secure (%+v): the browser would drop it", c)
	case c.MaxAge <= 0:
		t.Errorf("session cookie MaxAge %d, want a bounded session", c.MaxAge)
	}
	if code, body, _ := d.get(t, "/inbox", []*http.Cookie{c}); code != http.StatusOK || !strings.Contains(body, "hr@acme") {
		t.Fatalf("GET /inbox with the session: HTTP %d\n%s", code, body)
	}
	// Logout needs the CSRF token, then clears the cookie.
	_, body, _ := d.get(t, "/inbox", []*http.Cookie{c})
	if code, _ := d.post(t, "/logout", c, url.Values{}); code != http.StatusForbidden {
		t.Errorf("logout without CSRF: HTTP %d, want 403", code)
	}
	code, h := d.post(t, "/logout", c, url.Values{"csrf": {csrfOf(t, body)}})
	cleared := false
	for _, rc := range (&http.Response{Header: h}).Cookies() {
		cleared = cleared || rc.Name == gateway.SessionCookie && rc.Value == "" && rc.MaxAge < 0
	}
	if code != http.StatusSeeOther || !cleared {
		t.Errorf("logout: HTTP %d, Set-Cookie %q; want the session cookie cleared", code, h.Values("Set-Cookie"))
	}
}

func TestDashboardCookieIsSecureOverTLS(t *testing.T) {
	f := start(t, "")
	ts := httptest.NewTLSServer(f.gw.Handler())
	defer ts.Close()
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.PostForm(ts.URL+"/login", url.Values{"token": {f.env.Tokens[auth.RoleHR]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil {
		t.Fatal("not over TLS")
	}
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == gateway.SessionCookie {
			c = rc
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie over TLS = %+v, want Secure, HttpOnly, SameSite=Strict", c)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := start(t, "")
	d := &dash{fixture: f, client: noRedirect()}
	if code, body, _ := d.get(t, "/healthz", nil); code != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d %s", code, body)
	}
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if code, body, _ := d.get(t, "/readyz", nil); code != http.StatusOK {
			return fmt.Errorf("/readyz with feedback up: HTTP %d %s", code, body)
		}
		return nil
	})
	// A gateway whose feedback service does not answer is alive but not ready.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := f.config("")
	cfg.FeedbackAddr = dead
	gw, err := gateway.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get("http://" + gw.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s with feedback down: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestDashboard runs the dashboard's pages against one seeded organisation.
func TestDashboard(t *testing.T) {
	d := startDashboard(t)
	d.seed(t)
	hrToken := d.env.Tokens[auth.RoleHR]
	hr := []*http.Cookie{d.session(t, hrToken)}

	t.Run("heatmap shows a team of five and hides a team of two", func(t *testing.T) {
		code, body, _ := d.get(t, "/", hr)
		if code != http.StatusOK {
			t.Fatalf("GET /: HTTP %d\n%s", code, body)
		}
		eng := row(body, "acme/eng")
		if len(eng) != 8 {
			t.Fatalf("row acme/eng has %d cells, want 8 dimensions:\n%s", len(eng), body)
		}
		workload := eng[6] // the columns follow docs/design.md: Workload is the 7th
		if !strings.Contains(workload, `class="num"`) || !strings.Contains(workload, "n = 5") || strings.Contains(workload, "Hidden") {
			t.Errorf("acme/eng Workload cell %q: want its mean and n = 5", workload)
		}
		ops := row(body, "acme/ops")
		if len(ops) != 8 {
			t.Fatalf("row acme/ops has %d cells, want 8 (a hidden row is still listed):\n%s", len(ops), body)
		}
		for i, c := range ops {
			if !strings.Contains(c, "Hidden") || strings.Contains(c, `class="num"`) || strings.Contains(c, "n = ") || regexp.MustCompile(`\d`).MatchString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(c, "")) {
				t.Errorf("acme/ops cell %d %q: want marked hidden, without a number", i, c)
			}
		}
		if !strings.Contains(body, "fewer than 5 people, or hidden so a small team cannot be worked out") {
			t.Error("the page does not explain hidden cells")
		}
		for _, want := range []string{`<th scope="col">Workload</th>`, `<th scope="row">`, `class="legend"`} {
			if !strings.Contains(body, want) {
				t.Errorf("heatmap lacks %s", want)
			}
		}
	})

	t.Run("manager sees only their subtree", func(t *testing.T) {
		mgr := []*http.Cookie{d.session(t, d.env.SubtreeManager)}
		d.waitCell(t, servicetest.WithToken(context.Background(), d.env.SubtreeManager), "acme/eng", "acme/eng/platform", commonv1.Dimension_DIMENSION_WORKLOAD, 5)
		code, body, _ := d.get(t, "/", mgr)
		if code != http.StatusOK {
			t.Fatalf("GET / as manager of acme/eng: HTTP %d\n%s", code, body)
		}
		if cells := row(body, "acme/eng/platform"); len(cells) != 8 || !strings.Contains(cells[6], "n = 5") {
			t.Errorf("manager's heatmap: row acme/eng/platform = %q, want its Workload with n = 5", cells)
		}
		if strings.Contains(body, "acme/ops") || strings.Contains(body, "acme/sales") {
			t.Error("the manager of acme/eng sees other departments on the heatmap")
		}
		code, body, _ = d.get(t, "/?segment=acme", mgr)
		if code != http.StatusForbidden || row(body, "acme/ops") != nil {
			t.Errorf("manager asking for acme: HTTP %d, ops row %v; want 403 and no row", code, row(body, "acme/ops"))
		}
		code, body, _ = d.get(t, "/inbox", mgr)
		if code != http.StatusOK || !strings.Contains(body, platformTexts[0]) {
			t.Fatalf("manager's inbox: HTTP %d, want acme/eng/platform's comments\n%s", code, body)
		}
		for _, text := range opsTexts {
			if strings.Contains(body, text) {
				t.Errorf("the manager of acme/eng reads acme/ops's comment %q", text)
			}
		}
		if code, body, _ := d.get(t, "/inbox?segment=acme/ops", mgr); code != http.StatusForbidden || strings.Contains(body, opsTexts[0]) {
			t.Errorf("manager's inbox for acme/ops: HTTP %d, want 403 without its comments", code)
		}
		// Nor live updates of another department.
		req, _ := http.NewRequest(http.MethodGet, d.base()+"/events?segment=acme", nil)
		req.AddCookie(mgr[0])
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("manager's /events for acme: HTTP %d, want 403", resp.StatusCode)
		}
		// HR reads both.
		_, body, _ = d.get(t, "/inbox", hr)
		if !strings.Contains(body, opsTexts[0]) || !strings.Contains(body, platformTexts[0]) {
			t.Error("HR's inbox lacks comments of acme/ops or acme/eng/platform")
		}
	})

	t.Run("reply through the inbox reaches the author", func(t *testing.T) {
		_, body, _ := d.get(t, "/inbox?status=1", hr)
		text := platformTexts[1]
		id := commentID(t, body, text)
		csrf := csrfOf(t, body)
		const answer = "Thanks, we are rotating on-call with the web team from next month."
		form := url.Values{"id": {id}, "text": {answer}, "back": {"/inbox?status=1"}}
		// Refused first: no CSRF token, a wrong one, another session's, and another site's.
		mgrBody := func() string {
			_, b, _ := d.get(t, "/inbox", []*http.Cookie{d.session(t, d.env.Tokens[auth.RoleManager])})
			return b
		}()
		for _, tc := range []struct {
			name    string
			csrf    string
			headers []string
		}{
			{"no CSRF token", "", nil},
			{"wrong CSRF token", strings.Repeat("A", len(csrf)), nil},
			{"another session's CSRF token", csrfOf(t, mgrBody), nil},
			{"cross-site", csrf, []string{"Origin", "https://evil.example"}},
			{"cross-site fetch", csrf, []string{"Sec-Fetch-Site", "cross-site"}},
		} {
			bad := url.Values{}
			for k, v := range form {
				bad[k] = v
			}
			if tc.csrf != "" {
				bad.Set("csrf", tc.csrf)
			}
			bad.Set("text", tc.name+": must not arrive")
			if code, _ := d.post(t, "/inbox/reply", hr[0], bad, tc.headers...); code != http.StatusForbidden {
				t.Errorf("%s: HTTP %d, want 403", tc.name, code)
			}
		}
		form.Set("csrf", csrf)
		code, h := d.post(t, "/inbox/reply", hr[0], form, "Origin", d.base())
		if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/inbox?") || !strings.Contains(h.Get("Location"), "notice=replied") {
			t.Fatalf("reply: HTTP %d to %q, want 303 back to the inbox", code, h.Get("Location"))
		}
		th, err := d.feedback.GetThread(d.env.As(context.Background(), auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: d.threads[text]})
		if err != nil {
			t.Fatal(err)
		}
		var replies []string
		for _, m := range th.Messages {
			if m.Author == feedbackv1.Author_AUTHOR_RESPONDER {
				replies = append(replies, m.Text)
			}
		}
		if len(replies) != 1 || replies[0] != answer {
			t.Fatalf("the author's thread holds replies %q, want exactly %q (refused posts must not arrive)", replies, answer)
		}
		// The page after the redirect says so.
		if _, body, _ := d.get(t, h.Get("Location"), hr); !strings.Contains(body, "Reply sent") {
			t.Error("the inbox does not confirm the reply")
		}
	})

	t.Run("status change and owner through the inbox", func(t *testing.T) {
		_, body, _ := d.get(t, "/inbox", hr)
		text := platformTexts[2]
		id := commentID(t, body, text)
		csrf := csrfOf(t, body)
		ack := fmt.Sprint(int32(commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED))
		if code, h := d.post(t, "/inbox/status", hr[0], url.Values{"csrf": {csrf}, "id": {id}, "status": {ack}, "note": {"We read it."}}); code != http.StatusSeeOther {
			t.Fatalf("status: HTTP %d %v", code, h)
		}
		if code, h := d.post(t, "/inbox/owner", hr[0], url.Values{"csrf": {csrf}, "id": {id}, "owner": {"eng-leads"}}); code != http.StatusSeeOther {
			t.Fatalf("owner: HTTP %d %v", code, h)
		}
		got, err := d.feedback.GetFeedback(d.env.As(context.Background(), auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
		if err != nil {
			t.Fatal(err)
		}
		if got.Feedback.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED || got.Feedback.OwnerGroup != "eng-leads" {
			t.Fatalf("after the forms: status %v owner %q, want ACKNOWLEDGED and eng-leads", got.Feedback.Status, got.Feedback.OwnerGroup)
		}
		// An illegal step is the service's answer, shown, not a crash.
		resolved := fmt.Sprint(int32(commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW))
		if code, _ := d.post(t, "/inbox/status", hr[0], url.Values{"csrf": {csrf}, "id": {id}, "status": {resolved}, "note": {"back"}}); code != http.StatusConflict && code != http.StatusBadRequest {
			t.Errorf("illegal status step: HTTP %d, want the service's refusal (409 or 400)", code)
		}
	})

	t.Run("other pages render", func(t *testing.T) {
		for path, want := range map[string]string{
			"/trends":                    "<svg",
			"/alerts":                    "No alert",
			"/surveys":                   "Quarterly pulse",
			"/surveys/" + d.surveyID:     "My workload is manageable",
			"/loops":                     "Time to acknowledge",
			"/inbox?dimension=7&label=1": "Comment inbox",
		} {
			code, body, _ := d.get(t, path, hr)
			if code != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("GET %s: HTTP %d, want %q in:\n%s", path, code, want, body)
			}
		}
		_, body, _ := d.get(t, "/surveys/"+d.surveyID, hr)
		for _, want := range []string{"Participation", "eNPS", "acme/sales"} {
			if !strings.Contains(body, want) {
				t.Errorf("survey results lack %q", want)
			}
		}
	})

	t.Run("survey comments come a page at a time with a link to the next", func(t *testing.T) {
		hrCtx := d.env.As(context.Background(), auth.RoleHR)
		sv, err := d.pulse.CreateSurvey(hrCtx, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
			Title:    lt("Open question"),
			Audience: "acme/sales", Cadence: pulsev1.Cadence_CADENCE_ONCE, DefaultLanguage: "en",
			Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Hour))},
			Questions: []*pulsev1.Question{
				{Id: "idea", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_GROWTH, Text: lt("One idea for the team?")},
			},
		}})
		if err != nil {
			t.Fatalf("CreateSurvey: %v", err)
		}
		sub := d.env.As(context.Background(), auth.RoleSubmitter)
		const people = 57 // more than one page of GetResults' default 50 comments
		want := map[string]bool{}
		for i := range people {
			text := fmt.Sprintf("idea number %d: %s", i, strings.Repeat("x", i%7))
			want[text] = true
			if _, err := d.pulse.SubmitResponse(sub, &pulsev1.SubmitResponseRequest{
				SurveyId: sv.Survey.Id, Segment: "acme/sales", SubmitterRef: fmt.Sprintf("open-%d", i),
				Answers: []*pulsev1.Answer{{QuestionId: "idea", Value: &pulsev1.Answer_Text{Text: text}}},
			}); err != nil {
				t.Fatalf("SubmitResponse %d: %v", i, err)
			}
		}
		if _, err := d.pulse.CloseSurvey(hrCtx, &pulsev1.CloseSurveyRequest{SurveyId: sv.Survey.Id}); err != nil {
			t.Fatalf("CloseSurvey: %v", err)
		}
		quoted := regexp.MustCompile(`<q>([^<]*)</q>`)
		more := regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
		seen := map[string]int{}
		path, pages := "/surveys/"+sv.Survey.Id, 0
		for path != "" {
			pages++
			if pages > people {
				t.Fatalf("more than %d pages of comments: the next link never ends", people)
			}
			code, body, _ := d.get(t, path, hr)
			if code != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d\n%s", path, code, body)
			}
			for _, m := range quoted.FindAllStringSubmatch(body, -1) {
				seen[html.UnescapeString(m[1])]++
			}
			path = ""
			if m := more.FindStringSubmatch(body); m != nil {
				path = html.UnescapeString(m[1])
			}
		}
		if pages < 2 {
			t.Errorf("%d comments came on %d page: want a link to a second page", people, pages)
		}
		for text := range want {
			if seen[text] != 1 {
				t.Errorf("comment %q shown %d times over the pages, want once", text, seen[text])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("the pages show %d distinct comments, want the %d answers", len(seen), len(want))
		}
		if code, body, _ := d.get(t, "/surveys/"+sv.Survey.Id+"?comments=not-a-token", hr); code != http.StatusOK || !strings.Contains(body, `role="alert"`) {
			t.Errorf("a bad comments token: HTTP %d, want the page with the service's refusal shown", code)
		}
	})

	t.Run("loops page lists the action plans under the segment", func(t *testing.T) {
		if _, body, _ := d.get(t, "/loops", hr); !strings.Contains(body, "No action plan here yet.") {
			t.Fatalf("/loops before any plan: want the empty line in:\n%s", body)
		}
		hrCtx := d.env.As(context.Background(), auth.RoleHR)
		due := time.Date(2027, time.March, 2, 0, 0, 0, 0, time.UTC)
		if _, err := d.feedback.CreateActionPlan(hrCtx, &feedbackv1.CreateActionPlanRequest{Plan: &feedbackv1.ActionPlan{
			Segment: "acme/eng", Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Title: "On-call rota review",
			Description: "fewer nights per person", OwnerGroup: "eng-leads", DueTime: timestamppb.New(due),
		}}); err != nil {
			t.Fatalf("CreateActionPlan: %v", err)
		}
		_, body, _ := d.get(t, "/loops", hr)
		var plan []string
		if m := regexp.MustCompile(`(?s)<tr><th scope="row">On-call rota review</th>(.*?)</tr>`).FindStringSubmatch(body); m != nil {
			plan = regexp.MustCompile(`(?s)<td.*?</td>`).FindAllString(m[1], -1)
		}
		if len(plan) != 5 || !strings.Contains(plan[0], "acme/eng") || !strings.Contains(plan[2], "planned") || !strings.Contains(plan[3], "eng-leads") || !strings.Contains(plan[4], "2027") {
			t.Fatalf("/loops plan row %q: want segment, dimension, planned, eng-leads and the due day, in:\n%s", plan, body)
		}
		if _, body, _ := d.get(t, "/loops", hr, "Accept-Language", "fr"); !strings.Contains(body, "Plans d&#39;action") || !strings.Contains(body, "prévu") {
			t.Errorf("/loops in French: want the plans table's French caption and status in:\n%s", body)
		}
		// A plan elsewhere in the organisation is not listed under another segment.
		if _, body, _ := d.get(t, "/loops?segment=acme/sales", hr); strings.Contains(body, "On-call rota review") {
			t.Errorf("/loops for acme/sales lists a plan of acme/eng")
		}
	})

	t.Run("no token in any URL or page", func(t *testing.T) {
		tokens := []string{hrToken, d.env.SubtreeManager, d.env.Tokens[auth.RoleManager]}
		hrefRE := regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)
		for _, path := range []string{"/", "/trends", "/alerts", "/surveys", "/surveys/" + d.surveyID, "/inbox", "/loops", "/login", "/?segment=acme/eng", "/lang/fr?next=/inbox"} {
			code, body, h := d.get(t, path, hr)
			for _, tok := range tokens {
				if strings.Contains(body, tok) || strings.Contains(h.Get("Location"), tok) || strings.Contains(body, url.QueryEscape(tok)) {
					t.Errorf("GET %s (HTTP %d) shows a bearer token", path, code)
				}
			}
			for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
				if strings.Contains(strings.ToLower(m[1]), "token") || strings.Contains(m[1], "voix_") {
					t.Errorf("GET %s links to %q", path, m[1])
				}
			}
		}
		for _, tok := range tokens {
			if enc, found := servicetest.FindSecret(d.logs.Bytes(), tok); found {
				t.Errorf("the gateway's logs hold a token (%s)", enc)
			}
		}
	})

	t.Run("French when the browser asks for it", func(t *testing.T) {
		code, body, _ := d.get(t, "/", hr, "Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8")
		for _, want := range []string{`<html lang="fr">`, "Carte de chaleur", "Charge de travail", "Masqué", "moins de 5 personnes"} {
			if code != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("French heatmap (HTTP %d) lacks %q", code, want)
			}
		}
		// The language link sets a cookie that wins over the header.
		code, _, h := d.get(t, "/lang/en?next=/inbox", hr)
		var lang *http.Cookie
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.Name == gateway.LangCookie {
				lang = c
			}
		}
		if code != http.StatusSeeOther || h.Get("Location") != "/inbox" || lang == nil || lang.Value != "en" {
			t.Fatalf("/lang/en: HTTP %d to %q, cookie %v", code, h.Get("Location"), lang)
		}
		if _, body, _ := d.get(t, "/", append(hr, lang), "Accept-Language", "fr"); !strings.Contains(body, `<html lang="en">`) {
			t.Error("the language cookie does not override Accept-Language")
		}
		// The link never sends elsewhere.
		if _, _, h := d.get(t, "/lang/fr?next=//evil.example/x", hr); h.Get("Location") != "/" {
			t.Errorf("/lang with an outside next sends to %q, want /", h.Get("Location"))
		}
	})

	t.Run("live updates over server-sent events", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, d.base()+"/events?segment=acme", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(hr[0])
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("/events: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				case <-ctx.Done():
					return
				}
			}
		}()
		next := func(prefix string) string {
			t.Helper()
			for l := range lines {
				if strings.HasPrefix(l, prefix) {
					return l
				}
			}
			t.Fatalf("the event stream ended before %q", prefix)
			return ""
		}
		next("event: ready")
		// Five people of a new team speak: its aggregates are released and the page hears it.
		for i := range 5 {
			d.comment(t, "acme/support", fmt.Sprintf("support-%d", i), fmt.Sprintf("The ticket queue is overwhelming, day %d", i))
		}
		for {
			next("event: update")
			if data := next("data: "); strings.Contains(data, `"segment":"acme/support"`) {
				break
			}
		}
		// Without a session there is no stream.
		resp2, err := http.Get(d.base() + "/events?segment=acme")
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusUnauthorized {
			t.Errorf("/events without a session: HTTP %d, want 401", resp2.StatusCode)
		}
	})
}
