package gateway

// The HR dashboard: server-rendered pages on the gateway's HTTP server for hr, manager and
// admin tokens.
//
// Sessions. HR pastes a bearer token of the token file into the login form (POST /login, a
// password field named "token"); the gateway checks it against its tokens and keeps it in an
// HttpOnly, SameSite=Strict cookie (Secure when the request came over TLS). A token is never
// put in a URL, a page or a log. Every page calls the services' gRPC read APIs with that token,
// so every page shows exactly what the token may read, under the services' own k and
// suppression rules: the gateway has no other path to the data.
//
// CSRF. State-changing POSTs (reply, status, owner, action plans, logout) carry a hidden field "csrf", the
// HMAC of the session cookie's value under a server key, checked in constant time. POSTs whose
// Origin (or Sec-Fetch-Site) says they come from another site are refused before that.
//
// Errors. A service's InvalidArgument, PermissionDenied, NotFound and FailedPrecondition
// messages are meant for clients and are shown; anything else becomes a generic message, and
// only its gRPC code is logged.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	// SessionCookie holds the bearer token of a dashboard session.
	SessionCookie = "voix_session"
	// LangCookie holds the language chosen with the language link.
	LangCookie = "voix_lang"
	// sessionMaxAge bounds a session: the browser drops the cookie after a working day.
	sessionMaxAge = 12 * time.Hour
	// rpcTimeout bounds the service calls of one page.
	rpcTimeout = 8 * time.Second
	// sseHeartbeat keeps proxies from closing an idle event stream.
	sseHeartbeat = 25 * time.Second
	csrfDomain   = "voix-dashboard-csrf-v1"
)

// webClients call the services with the dashboard user's token, set per call: their
// connections carry no token of their own (the chat connections carry the gateway's submitter
// token).
type webClients struct {
	feedback  feedbackv1.FeedbackServiceClient
	pulse     pulsev1.PulseServiceClient         // nil without Config.PulseAddr
	sentiment sentimentv1.SentimentServiceClient // nil without Config.SentimentAddr
	health    healthpb.HealthClient
}

// pages are the parsed templates, one set per page (the layout plus the page).
type pages map[string]*template.Template

func parsePages() (pages, error) {
	base, err := template.New("layout.html").Funcs(template.FuncMap{
		"add": func(a, b int) int { return a + b },
	}).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := pages{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		ps[name] = t
	}
	return ps, nil
}

// dialWeb connects the dashboard's clients.
func (s *Service) dialWeb(dial func(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error)) error {
	conn, err := dial(s.cfg.FeedbackAddr)
	if err != nil {
		return fmt.Errorf("gateway: dashboard feedback client: %w", err)
	}
	s.web.feedback = feedbackv1.NewFeedbackServiceClient(conn)
	s.web.health = healthpb.NewHealthClient(conn)
	if s.cfg.PulseAddr != "" {
		conn, err := dial(s.cfg.PulseAddr)
		if err != nil {
			return fmt.Errorf("gateway: dashboard pulse client: %w", err)
		}
		s.web.pulse = pulsev1.NewPulseServiceClient(conn)
	}
	if s.cfg.SentimentAddr != "" {
		conn, err := dial(s.cfg.SentimentAddr)
		if err != nil {
			return fmt.Errorf("gateway: sentiment client: %w", err)
		}
		s.web.sentiment = sentimentv1.NewSentimentServiceClient(conn)
	}
	return nil
}

// routeWeb adds the dashboard's routes to mux.
func (s *Service) routeWeb(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})))
	mux.Handle("GET /favicon.ico", secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := staticFS.ReadFile("static/icon.svg")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(b)
	})))
	mux.Handle("GET /login", secured(http.HandlerFunc(s.handleLoginPage)))
	mux.Handle("POST /login", secured(http.HandlerFunc(s.handleLogin)))
	mux.Handle("POST /logout", secured(s.authed(s.handleLogout)))
	mux.Handle("GET /lang/{lang}", secured(http.HandlerFunc(s.handleLang)))
	mux.Handle("GET /{$}", secured(s.authed(s.handleHeatmap)))
	mux.Handle("GET /trends", secured(s.authed(s.handleTrends)))
	mux.Handle("GET /alerts", secured(s.authed(s.handleAlerts)))
	mux.Handle("GET /surveys", secured(s.authed(s.handleSurveys)))
	mux.Handle("GET /surveys/{id}", secured(s.authed(s.handleSurvey)))
	mux.Handle("GET /inbox", secured(s.authed(s.handleInbox)))
	mux.Handle("POST /inbox/reply", secured(s.authed(s.handleReply)))
	mux.Handle("POST /inbox/status", secured(s.authed(s.handleStatus)))
	mux.Handle("POST /inbox/owner", secured(s.authed(s.handleOwner)))
	mux.Handle("GET /loops", secured(s.authed(s.handleLoops)))
	mux.Handle("POST /loops", secured(s.authed(s.handlePlanPost)))
	mux.Handle("GET /mirror", secured(s.authed(s.handleMirror)))
	mux.Handle("GET /events", secured(s.authed(s.handleEvents)))
}

// secured sets the headers every dashboard response carries: nothing is cached or framed,
// scripts and styles come from the gateway only, and no referrer leaves the site.
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// handleReady answers 200 when the feedback service answers a health check as serving.
func (s *Service) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	resp, err := s.web.health.Check(ctx, &healthpb.HealthCheckRequest{Service: feedbackv1.FeedbackService_ServiceDesc.ServiceName})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "feedback service not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}

// session is a logged-in dashboard user.
type session struct {
	token string
	p     auth.Principal
	csrf  string
}

// dashboardRole reports whether a role may use the dashboard: readers of comments and
// aggregates.
func dashboardRole(r auth.Role) bool {
	return r == auth.RoleHR || r == auth.RoleManager || r == auth.RoleAdmin
}

// session returns the request's session, if its cookie holds a dashboard token.
func (s *Service) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	p, ok := s.tokens.Lookup(c.Value)
	if !ok || !dashboardRole(p.Role) {
		return session{}, false
	}
	return session{token: c.Value, p: p, csrf: s.csrfToken(c.Value)}, true
}

// csrfToken is the HMAC of a session cookie's value under the server's key.
func (s *Service) csrfToken(cookie string) string {
	mac := hmac.New(sha256.New, s.csrfKey)
	mac.Write([]byte(csrfDomain))
	mac.Write([]byte{0})
	mac.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// sameOrigin refuses requests a browser marks as sent from another site.
func sameOrigin(r *http.Request) bool {
	// Browsers that send Fetch metadata say where a request comes from; "none" is the user
	// typing or a bookmark.
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

type authedHandler func(w http.ResponseWriter, r *http.Request, sess session)

// authed runs next with the request's session. Without one, pages redirect to the login form
// and other requests get 401. A POST must be same-origin and carry the session's CSRF token.
func (s *Service) authed(next authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.session(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "unauthenticated: log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			if !sameOrigin(r) {
				http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
				return
			}
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad request: unreadable form", http.StatusBadRequest)
				return
			}
			if got := r.PostForm.Get("csrf"); !hmac.Equal([]byte(got), []byte(sess.csrf)) {
				s.cfg.Log.Warn("dashboard: POST without a valid CSRF token refused", "path", r.URL.Path)
				http.Error(w, "forbidden: missing or invalid CSRF token; reload the page", http.StatusForbidden)
				return
			}
		}
		next(w, r, sess)
	})
}

// callCtx is ctx presenting the session's token to the services.
func callCtx(ctx context.Context, sess session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sess.token), cancel
}

// sessionCookie builds the session cookie; an empty value with maxAge < 0 clears it.
func sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

func (s *Service) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", s.newPage(r, nil, "login", ""), nil)
}

// handleLogin checks the pasted token against the token file and starts a session.
func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if !sameOrigin(r) {
		http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request: unreadable form", http.StatusBadRequest)
		return
	}
	pg := s.newPage(r, nil, "login", "")
	token := strings.TrimSpace(r.PostForm.Get("token"))
	p, ok := s.tokens.Lookup(token)
	switch {
	case !ok:
		pg.Error = pg.T("login.bad")
		s.render(w, r, http.StatusUnauthorized, "login", pg, nil)
		return
	case !dashboardRole(p.Role):
		pg.Error = pg.T("login.role")
		s.render(w, r, http.StatusForbidden, "login", pg, nil)
		return
	}
	http.SetCookie(w, sessionCookie(r, token, int(sessionMaxAge/time.Second)))
	s.cfg.Log.Info("dashboard: login", "token", p.Name, "role", p.Role)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request, _ session) {
	http.SetCookie(w, sessionCookie(r, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// handleLang sets the language cookie and goes back to the page the link was on.
func (s *Service) handleLang(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	if _, ok := catalog[lang]; !ok {
		http.Error(w, "unknown language", http.StatusNotFound)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next"), "/"), http.StatusSeeOther)
}

// localPath returns p when it is a path on this site, else fallback: never another host.
func localPath(p, fallback string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return u.RequestURI()
}

// page is what every template gets.
type page struct {
	Lang, Other string
	// Nav is the active menu entry; Title the page's heading.
	Nav, Title string
	// Here is the path and query of the page, for the language link.
	Here string
	// User is set once logged in.
	User *auth.Principal
	CSRF string
	// Segment is the prefix the page shows; ParentHref links one level up when the token may.
	Segment, ParentHref string
	Notice, Error       string
	// Live turns on server-sent updates (heatmap).
	Live bool
	// K is the minimum group size named in explanations.
	K    int
	Data any
}

// T looks up key in the page's language; args fill fmt verbs.
func (p *page) T(key string, args ...any) string { return translate(p.Lang, key, args...) }

// Dim is the short name of a dimension.
func (p *page) Dim(d commonv1.Dimension) string { return p.T(dimKey(d)) }

// Status is the name of a workflow status.
func (p *page) Status(st commonv1.FeedbackStatus) string { return p.T(statusKey(st)) }

// Label is the name of a sentiment label.
func (p *page) Label(l commonv1.SentimentLabel) string { return p.T(labelKey(l)) }

// Num formats x with n decimals in the page's language.
func (p *page) Num(x float64, n int) string {
	s := strconv.FormatFloat(x, 'f', n, 64)
	if p.Lang == "fr" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Signed is Num with an explicit sign (scores in [-1, 1], eNPS).
func (p *page) Signed(x float64, n int) string {
	s := p.Num(x, n)
	if x >= 0 && !strings.HasPrefix(s, "-") {
		s = "+" + s
	} else if strings.HasPrefix(s, "-") {
		s = "−" + s[1:]
	}
	return s
}

// Pct formats a share in [0, 1] as a percentage.
func (p *page) Pct(x float64) string {
	if p.Lang == "fr" {
		return p.Num(x*100, 0) + " %"
	}
	return p.Num(x*100, 0) + "%"
}

// Day formats a day (midnight UTC) as YYYY-MM-DD.
func (p *page) Day(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.DateOnly)
}

// newPage builds the page data of a request; sess is nil before login.
func (s *Service) newPage(r *http.Request, sess *session, nav, seg string) *page {
	lang := pickLang(r)
	here := *r.URL
	q := here.Query()
	q.Del("notice") // a confirmation is shown once
	here.RawQuery = q.Encode()
	p := &page{Lang: lang, Other: otherLang(lang), Nav: nav, Here: localPath(here.RequestURI(), "/"), Segment: seg, K: s.cfg.MinGroupSize}
	if sess != nil {
		p.User = &sess.p
		p.CSRF = sess.csrf
	}
	if n := r.URL.Query().Get("notice"); n != "" && slices.Contains([]string{"replied", "status", "owner", "plan", "planupdate"}, n) {
		p.Notice = p.T("notice." + n)
	}
	if nav != "" {
		p.Title = p.T("nav." + nav)
	}
	return p
}

// render executes a page into a buffer, then writes it: a template error is a clean 500.
func (s *Service) render(w http.ResponseWriter, _ *http.Request, code int, name string, p *page, data any) {
	p.Data = data
	t, ok := s.pages[name]
	var buf bytes.Buffer
	if !ok {
		s.cfg.Log.Error("dashboard: no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.cfg.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fail renders page name with the message of a service error. An Unauthenticated answer (the
// token was revoked) ends the session.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	code, msg := s.explain(p, err)
	if code == http.StatusUnauthorized {
		http.SetCookie(w, sessionCookie(r, "", -1))
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p.Error = msg
	s.render(w, r, code, name, p, nil)
}

// explain maps a service error to an HTTP code and a message for the reader. Messages of the
// codes the services address to clients are shown; others are not, and only their code is
// logged.
func (s *Service) explain(p *page, err error) (int, string) {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unauthenticated:
		return http.StatusUnauthorized, p.T("err.auth")
	case codes.PermissionDenied:
		return http.StatusForbidden, p.T("err.permission") + " " + st.Message()
	case codes.InvalidArgument:
		return http.StatusBadRequest, p.T("err.invalid") + " " + st.Message()
	case codes.NotFound:
		return http.StatusNotFound, p.T("err.notfound")
	case codes.FailedPrecondition:
		return http.StatusConflict, p.T("err.precondition") + " " + st.Message()
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		s.cfg.Log.Warn("dashboard: service call failed", "code", st.Code().String())
		return http.StatusServiceUnavailable, p.T("err.unavailable")
	default:
		s.cfg.Log.Error("dashboard: service call failed", "code", st.Code().String())
		return http.StatusBadGateway, p.T("err.internal")
	}
}

// errNotConfigured is the answer of pages whose service the gateway was not given.
var errNotConfigured = status.Error(codes.Unavailable, "not configured")

// pageSegment is the prefix a page shows: the "segment" parameter, or the token's prefix. ok is
// false (and the page says why) when it is malformed or missing (a global admin must name one).
func pageSegment(r *http.Request, sess session, p *page) (string, bool) {
	seg := strings.TrimSpace(r.URL.Query().Get("segment"))
	if seg == "" {
		seg = sess.p.Prefix
	}
	if seg == "" {
		p.Error = p.T("err.nosegment")
		return "", false
	}
	path, err := segment.Parse(seg)
	if err != nil {
		p.Error = p.T("err.segment") + " " + err.Error()
		return "", false
	}
	p.Segment = path.String()
	if parent, ok := path.Parent(); ok && sess.p.Covers(parent.String()) {
		p.ParentHref = parent.String()
	}
	return path.String(), true
}

// weekParam is the instant of the week a page shows: the "week" parameter (YYYY-MM-DD) or now.
func (s *Service) weekParam(r *http.Request) (time.Time, bool) {
	if v := r.URL.Query().Get("week"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, true
		}
	}
	return s.cfg.Now(), false
}

// --- pages ---

func (s *Service) handleHeatmap(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "heatmap", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "heatmap", p, nil)
		return
	}
	if s.web.sentiment == nil {
		s.fail(w, r, "heatmap", p, errNotConfigured)
		return
	}
	at, _ := s.weekParam(r)
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	// Compact: the page reads each cell's dimension and numbers, not its segment or window.
	resp, err := s.web.sentiment.GetHeatmap(ctx, &sentimentv1.GetHeatmapRequest{SegmentPrefix: seg, Time: timestamppb.New(at), Compact: true})
	if err != nil {
		s.fail(w, r, "heatmap", p, err)
		return
	}
	p.Live = true
	s.render(w, r, http.StatusOK, "heatmap", p, s.heatmapView(ctx, p, seg, at, resp))
}

// pageWeeks is the number of weeks a page over time shows: ?weeks=4..52, else 12.
func pageWeeks(r *http.Request) int {
	weeks, _ := strconv.Atoi(r.URL.Query().Get("weeks"))
	if weeks < 4 || weeks > 52 {
		return 12
	}
	return weeks
}

func (s *Service) handleTrends(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "trends", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "trends", p, nil)
		return
	}
	if s.web.sentiment == nil {
		s.fail(w, r, "trends", p, errNotConfigured)
		return
	}
	weeks := pageWeeks(r)
	now := s.cfg.Now()
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	var charts []*chart
	for _, d := range append([]commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED}, dimensions...) {
		resp, err := s.web.sentiment.GetTrend(ctx, &sentimentv1.GetTrendRequest{
			Segment: seg, Dimension: d,
			StartTime: timestamppb.New(now.AddDate(0, 0, -7*(weeks-1))), EndTime: timestamppb.New(now),
		})
		if err != nil {
			s.fail(w, r, "trends", p, err)
			return
		}
		charts = append(charts, trendChart(p, d, resp.Points))
	}
	s.render(w, r, http.StatusOK, "trends", p, map[string]any{"Charts": charts, "Weeks": weeks})
}

func (s *Service) handleAlerts(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "alerts", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "alerts", p, nil)
		return
	}
	if s.web.sentiment == nil {
		s.fail(w, r, "alerts", p, errNotConfigured)
		return
	}
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	resp, err := s.web.sentiment.ListAlerts(ctx, &sentimentv1.ListAlertsRequest{SegmentPrefix: seg, PageToken: r.URL.Query().Get("after")})
	if err != nil {
		s.fail(w, r, "alerts", p, err)
		return
	}
	s.render(w, r, http.StatusOK, "alerts", p, map[string]any{"Alerts": resp.Alerts, "Next": nextHref(r, resp.NextPageToken)})
}

func (s *Service) handleSurveys(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "surveys", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "surveys", p, nil)
		return
	}
	if s.web.pulse == nil {
		s.fail(w, r, "surveys", p, errNotConfigured)
		return
	}
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	resp, err := s.web.pulse.ListSurveys(ctx, &pulsev1.ListSurveysRequest{SegmentPrefix: seg, PageToken: r.URL.Query().Get("after")})
	if err != nil {
		s.fail(w, r, "surveys", p, err)
		return
	}
	var rows []surveyRow
	for _, sv := range resp.Surveys {
		rows = append(rows, surveyRowOf(p, sv))
	}
	s.render(w, r, http.StatusOK, "surveys", p, map[string]any{"Surveys": rows, "Next": nextHref(r, resp.NextPageToken)})
}

func (s *Service) handleSurvey(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "surveys", "")
	if s.web.pulse == nil {
		s.fail(w, r, "survey", p, errNotConfigured)
		return
	}
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	sv, err := s.web.pulse.GetSurvey(ctx, &pulsev1.GetSurveyRequest{SurveyId: r.PathValue("id")})
	if err != nil {
		s.fail(w, r, "survey", p, err)
		return
	}
	// The segment parameter narrows the results within the audience; without it the service
	// answers for the audience, or for the token's subtree of it.
	q := r.URL.Query()
	if v := strings.TrimSpace(q.Get("segment")); v != "" {
		if _, err := segment.Parse(v); err != nil {
			p.Error = p.T("err.segment") + " " + err.Error()
			s.render(w, r, http.StatusBadRequest, "survey", p, nil)
			return
		}
		p.Segment = v
	}
	wave, _ := strconv.ParseUint(q.Get("wave"), 10, 32)
	view := surveyView(p, sv.Survey, uint32(wave))
	// The comments come a page at a time (GetResults pages them; the numbers are on every
	// page): the link to the next page carries the request's own wave, to which its token is
	// bound.
	req := &pulsev1.GetResultsRequest{SurveyId: sv.Survey.Id, FirstWave: uint32(wave), LastWave: uint32(wave), SegmentPrefix: p.Segment, Language: p.Lang,
		PageToken: q.Get("comments")}
	res, err := s.web.pulse.GetResults(ctx, req)
	if err != nil {
		_, view.ResultsError = s.explain(p, err)
	} else {
		view.fill(p, res)
		if next := res.GetNextPageToken(); next != "" {
			kv := []string{"comments", next}
			if wave != 0 {
				kv = append(kv, "wave", strconv.FormatUint(wave, 10))
			}
			view.MoreComments = p.SegHref("/surveys/"+sv.Survey.Id, p.Segment, kv...)
		}
		if len(view.Waves) >= 2 {
			first, last := view.Waves[0].Number, view.Waves[len(view.Waves)-1].Number
			tr, err := s.web.pulse.GetResults(ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Survey.Id, FirstWave: first, LastWave: last, SegmentPrefix: p.Segment, Language: p.Lang})
			if err == nil {
				view.Trend = tr.Trend
			}
		}
	}
	p.Title = view.Title
	s.render(w, r, http.StatusOK, "survey", p, view)
}

func (s *Service) handleLoops(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "loops", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "loops", p, nil)
		return
	}
	s.loopsPage(w, r, sess, p, seg, http.StatusOK, nil) // plans.go
}

// maxPlansShown is how many action plans the loops page lists (ListActionPlans' first page).
const maxPlansShown = 50

// --- inbox ---

// transitions mirrors the feedback service's workflow (feedback/workflow.go) to offer only
// legal next statuses; the service decides.
var transitions = map[commonv1.FeedbackStatus][]commonv1.FeedbackStatus{
	commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW: {commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED},
	commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED: {commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS,
		commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED},
	commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS: {commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED},
}

// inboxFilter is the inbox's query: every field optional.
type inboxFilter struct {
	Status, Dimension, Label int32
	From, To                 string // YYYY-MM-DD, To inclusive
	Risk                     bool   // only comments with a risk flag
	Owner                    string // only this owner group's queue
}

func parseInboxFilter(q url.Values) (inboxFilter, *feedbackv1.ListFeedbackRequest) {
	var f inboxFilter
	req := &feedbackv1.ListFeedbackRequest{PageToken: q.Get("after")}
	if v, err := strconv.Atoi(q.Get("status")); err == nil && v > 0 {
		if _, ok := commonv1.FeedbackStatus_name[int32(v)]; ok {
			f.Status = int32(v)
			req.Statuses = []commonv1.FeedbackStatus{commonv1.FeedbackStatus(v)}
		}
	}
	if v, err := strconv.Atoi(q.Get("dimension")); err == nil && v > 0 {
		if _, ok := commonv1.Dimension_name[int32(v)]; ok {
			f.Dimension = int32(v)
			req.Dimensions = []commonv1.Dimension{commonv1.Dimension(v)}
		}
	}
	if v, err := strconv.Atoi(q.Get("label")); err == nil && v > 0 {
		if _, ok := commonv1.SentimentLabel_name[int32(v)]; ok {
			f.Label = int32(v)
			req.Labels = []commonv1.SentimentLabel{commonv1.SentimentLabel(v)}
		}
	}
	if t, err := time.Parse(time.DateOnly, q.Get("from")); err == nil {
		f.From = t.Format(time.DateOnly)
		req.StartTime = timestamppb.New(t)
	}
	if t, err := time.Parse(time.DateOnly, q.Get("to")); err == nil {
		f.To = t.Format(time.DateOnly)
		req.EndTime = timestamppb.New(t.AddDate(0, 0, 1)) // the whole last day
	}
	if q.Get("risk") == "1" {
		f.Risk, req.HasRisk = true, true
	}
	// An owner group's queue; the service checks the group's shape and names it if wrong.
	if v := strings.TrimSpace(q.Get("owner")); v != "" && len(v) <= 128 {
		f.Owner, req.OwnerGroup = v, v
	}
	return f, req
}

func (s *Service) handleInbox(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "inbox", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "inbox", p, nil)
		return
	}
	filter, req := parseInboxFilter(r.URL.Query())
	req.SegmentPrefix = seg
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	resp, err := s.web.feedback.ListFeedback(ctx, req)
	if err != nil {
		s.fail(w, r, "inbox", p, err)
		return
	}
	s.render(w, r, http.StatusOK, "inbox", p, inboxView(p, sess, filter, resp, nextHref(r, resp.NextPageToken)))
}

// inboxAction runs one state-changing call on a comment and goes back to the inbox.
func (s *Service) inboxAction(w http.ResponseWriter, r *http.Request, sess session, notice string,
	call func(ctx context.Context, id string) error) {
	p := s.newPage(r, &sess, "inbox", "")
	id := r.PostForm.Get("id")
	if id == "" || len(id) > 128 {
		p.Error = p.T("err.invalid") + " id"
		s.render(w, r, http.StatusBadRequest, "error", p, nil)
		return
	}
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	if err := call(ctx, id); err != nil {
		code, msg := s.explain(p, err)
		if code == http.StatusUnauthorized {
			http.SetCookie(w, sessionCookie(r, "", -1))
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		p.Error = msg
		p.Data = localPath(r.PostForm.Get("back"), "/inbox")
		s.render(w, r, code, "error", p, p.Data)
		return
	}
	back, _ := url.Parse(localPath(r.PostForm.Get("back"), "/inbox"))
	if back.Path != "/inbox" {
		back, _ = url.Parse("/inbox")
	}
	q := back.Query()
	q.Set("notice", notice)
	back.RawQuery = q.Encode()
	back.Fragment = "c-" + id
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

func (s *Service) handleReply(w http.ResponseWriter, r *http.Request, sess session) {
	s.inboxAction(w, r, sess, "replied", func(ctx context.Context, id string) error {
		_, err := s.web.feedback.Reply(ctx, &feedbackv1.ReplyRequest{FeedbackId: id, Text: r.PostForm.Get("text")})
		return err
	})
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request, sess session) {
	s.inboxAction(w, r, sess, "status", func(ctx context.Context, id string) error {
		st, _ := strconv.Atoi(r.PostForm.Get("status"))
		_, err := s.web.feedback.UpdateStatus(ctx, &feedbackv1.UpdateStatusRequest{
			FeedbackId: id, Status: commonv1.FeedbackStatus(st), Note: r.PostForm.Get("note"),
		})
		return err
	})
}

func (s *Service) handleOwner(w http.ResponseWriter, r *http.Request, sess session) {
	s.inboxAction(w, r, sess, "owner", func(ctx context.Context, id string) error {
		_, err := s.web.feedback.AssignOwner(ctx, &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: strings.TrimSpace(r.PostForm.Get("owner"))})
		return err
	})
}

// nextHref is the link to the next page of a list: the request's query with the cursor.
func nextHref(r *http.Request, next string) string {
	if next == "" {
		return ""
	}
	q := r.URL.Query()
	q.Del("notice")
	q.Set("after", next)
	return r.URL.Path + "?" + q.Encode()
}

// --- live updates ---

// sseUpdate is what the heatmap page hears: which aggregate moved. The page reloads its table
// from the API, so the event carries no numbers.
type sseUpdate struct {
	Segment   string `json:"segment"`
	Dimension string `json:"dimension"`
	Window    string `json:"window"`
}

// handleEvents relays WatchSentiment under a prefix as server-sent events, with the session's
// token, until the client leaves or the gateway shuts down.
func (s *Service) handleEvents(w http.ResponseWriter, r *http.Request, sess session) {
	seg := strings.TrimSpace(r.URL.Query().Get("segment"))
	if seg == "" {
		seg = sess.p.Prefix
	}
	if _, err := segment.Parse(seg); err != nil {
		http.Error(w, "segment: malformed", http.StatusBadRequest)
		return
	}
	if s.web.sentiment == nil {
		http.Error(w, "live updates are not configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sess.token)
	stream, err := s.web.sentiment.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: seg})
	if err == nil {
		// Headers say the subscription is in place; a call refused at once (permission) ends
		// without headers, and its status comes with the first Recv.
		var md metadata.MD
		if md, err = stream.Header(); err == nil && md == nil {
			if _, err = stream.Recv(); err == nil || errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "stream ended")
			}
		}
	}
	if err != nil {
		p := s.newPage(r, &sess, "", "")
		code, msg := s.explain(p, err)
		http.Error(w, msg, code)
		return
	}
	// The server's read and write timeouts are for pages; a stream lives until it ends.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\nevent: ready\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	updates := make(chan sseUpdate)
	go func() {
		defer close(updates)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if m.GetInitial() || m.GetUpdate() == nil {
				continue // the page shows the current state already: only later releases refresh it
			}
			a := m.GetUpdate().GetAggregate()
			select {
			case updates <- sseUpdate{Segment: a.GetSegment(), Dimension: a.GetDimension().String(), Window: a.GetWindow().GetKey()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.shutdown:
			return
		case <-beat.C:
			fmt.Fprint(w, ": ping\n\n")
		case u, ok := <-updates:
			if !ok {
				return
			}
			b, _ := json.Marshal(u)
			fmt.Fprintf(w, "event: update\ndata: %s\n\n", b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// newCSRFKey is the server key of CSRF tokens when Config.DashboardKey is not set.
func newCSRFKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, errors.New("gateway: dashboard key: " + err.Error())
	}
	return k, nil
}

// menuItem is an entry of the navigation.
type menuItem struct {
	Href, Label string
	Current     bool
}

// Menu is the navigation, keeping the page's segment.
func (p *page) Menu() []menuItem {
	var items []menuItem
	for _, m := range []struct{ nav, path string }{
		{"heatmap", "/"}, {"trends", "/trends"}, {"alerts", "/alerts"}, {"surveys", "/surveys"}, {"inbox", "/inbox"}, {"loops", "/loops"}, {"mirror", "/mirror"},
	} {
		href := m.path
		if p.Segment != "" && (p.User == nil || p.Segment != p.User.Prefix) {
			href += "?" + url.Values{"segment": {p.Segment}}.Encode()
		}
		items = append(items, menuItem{Href: href, Label: p.T("nav." + m.nav), Current: p.Nav == m.nav})
	}
	return items
}

// SegHref is a link to path on the page's segment with extra query pairs (key, value, ...).
func (p *page) SegHref(path, seg string, kv ...string) string {
	q := url.Values{}
	if seg != "" {
		q.Set("segment", seg)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
