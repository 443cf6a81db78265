package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

var signingSecret = []byte("test-signing-secret-0123456789ab")

// Chat user ids that must never reach a file.
const (
	userID = "U0CHATUSER7"
	teamID = "T0WORKSPACE"
)

type fixture struct {
	env          *servicetest.Env
	dirFile      string
	feedbackAddr string
	now          time.Time
	gw           *gateway.Service
	feedback     feedbackv1.FeedbackServiceClient
	// logs holds everything the gateway logged.
	logs *syncBuffer
	// configure, if set, changes the gateway's Config before each (re)start.
	configure func(*gateway.Config)
}

// syncBuffer is a bytes.Buffer the gateway's handlers may log to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func start(t *testing.T, dirFile string) *fixture {
	t.Helper()
	return startWith(t, dirFile, nil)
}

// startWith is start with the feedback service's Config changed by configure, if set.
func startWith(t *testing.T, dirFile string, configure func(*feedback.Config)) *fixture {
	t.Helper()
	f := &fixture{env: servicetest.New(t), now: time.Now(), dirFile: dirFile, logs: &syncBuffer{}}
	fcfg := feedback.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig()}
	if configure != nil {
		configure(&fcfg)
	}
	fb, err := feedback.Start(context.Background(), fcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fb.Close() })
	f.feedbackAddr = fb.Addr()
	f.feedback = feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, fb.Addr()))
	f.restartGateway(t, "")
	return f
}

// restartGateway (re)starts the gateway on the fixture's data dir, with pulse at pulseAddr.
func (f *fixture) restartGateway(t *testing.T, pulseAddr string) {
	t.Helper()
	if f.gw != nil {
		if err := f.gw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f.gw = nil
	gw, err := gateway.Start(context.Background(), f.config(pulseAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	f.gw = gw
}

// config is the gateway's Config on the fixture, with pulse at pulseAddr.
func (f *fixture) config(pulseAddr string) gateway.Config {
	cfg := gateway.Config{
		Listen: "127.0.0.1:0", DataDir: f.env.DataDir, SigningSecret: signingSecret,
		FeedbackAddr: f.feedbackAddr, PulseAddr: pulseAddr, Token: f.env.Tokens[auth.RoleSubmitter], DirectoryFile: f.dirFile,
		Now: func() time.Time { return f.now },
		Log: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if f.configure != nil {
		f.configure(&cfg)
	}
	return cfg
}

// register sets headcounts in the segment registry, as the pulse service publishes them, and
// waits until the feedback service holds them: the teams people may pick.
func (f *fixture) register(t *testing.T, headcounts map[string]uint32) {
	t.Helper()
	for path, n := range headcounts {
		f.env.RegisterSegment(t, path, n)
	}
	hr := f.env.As(context.Background(), auth.RoleHR)
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		resp, err := f.feedback.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme", PageSize: 1000})
		if err != nil {
			return err
		}
		got := map[string]uint32{}
		for _, s := range resp.Segments {
			got[s.Path] = s.Headcount
		}
		for path, n := range headcounts {
			if strings.HasPrefix(path, "acme") && got[path] != n {
				return fmt.Errorf("the feedback service holds %s = %d, want %d", path, got[path], n)
			}
		}
		return nil
	})
}

// acmeTeams are the registered segments of most tests.
var acmeTeams = map[string]uint32{"acme": 200, "acme/eng": 60, "acme/ops": 40, "acme/sales": 50, "acme/support": 50}

// comments returns the comments HR reads under prefix.
func (f *fixture) comments(t *testing.T, prefix string) []*feedbackv1.Feedback {
	t.Helper()
	list, err := f.feedback.ListFeedback(f.env.As(context.Background(), auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: prefix, PageSize: 100})
	if err != nil {
		t.Fatalf("ListFeedback %s: %v", prefix, err)
	}
	return list.Feedback
}

// put sends a directory to PUT /admin/directory and returns the status and body.
func (f *fixture) put(t *testing.T, token, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+f.gw.Addr()+"/admin/directory", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sign(ts string, body []byte) string {
	mac := hmac.New(sha256.New, signingSecret)
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func form(text string) []byte { return formFor("/feedback", text) }

func formFor(command, text string) []byte { return formAs(teamID, userID, command, text) }

func formAs(team, user, command, text string) []byte {
	return []byte(url.Values{
		"command": {command}, "text": {text}, "user_id": {user}, "team_id": {team},
		"trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10)},
	}.Encode())
}

// post sends body to /slack/commands with the given timestamp and signature headers.
func (f *fixture) post(t *testing.T, body []byte, ts, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+f.gw.Addr()+"/slack/commands", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ts != "" {
		req.Header.Set(gateway.HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(gateway.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// command sends a signed /feedback and returns Slack's ephemeral text.
func (f *fixture) command(t *testing.T, text string) string {
	t.Helper()
	return f.commandWith(t, "/feedback", text)
}

func (f *fixture) commandWith(t *testing.T, command, text string) string {
	t.Helper()
	return f.commandAs(t, teamID, userID, command, text)
}

// commandAs sends a signed slash command as user of workspace team and returns the text.
func (f *fixture) commandAs(t *testing.T, team, user, command, text string) string {
	t.Helper()
	body := formAs(team, user, command, text)
	ts := strconv.FormatInt(f.now.Unix(), 10)
	code, out := f.post(t, body, ts, sign(ts, body))
	if code != http.StatusOK {
		t.Fatalf("/feedback %s: HTTP %d %s", text, code, out)
	}
	var r struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.ResponseType != "ephemeral" {
		t.Fatalf("/feedback %s: answer %q is not an ephemeral Slack message (%v)", text, out, err)
	}
	return r.Text
}

var codeRE = regexp.MustCompile("`([A-Z2-7]{26})`")

func TestFeedbackLoopThroughSlashCommands(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	if got := f.command(t, "the VPN drops every hour"); !strings.Contains(got, "/feedback team") {
		t.Fatalf("unknown user: %q, want to be asked for a team", got)
	}
	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "acme/eng") {
		t.Fatalf("team: %q", got)
	}
	got := f.command(t, "the VPN drops every hour, mail me at jo@acme.example")
	m := codeRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("submit answered %q, want a follow-up code", got)
	}
	code := m[1]

	hr := f.env.As(context.Background(), auth.RoleHR)
	list, err := f.feedback.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Feedback) != 1 {
		t.Fatalf("ListFeedback: %v, %v; want the one comment", list, err)
	}
	c := list.Feedback[0]
	if c.Channel != feedbackv1.Channel_CHANNEL_CHAT || strings.Contains(c.Text, "jo@acme.example") {
		t.Fatalf("stored comment %v: want CHAT and scrubbed", c)
	}
	if _, err := f.feedback.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{FeedbackId: c.Id, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, Note: "IT is on it"}); err != nil {
		t.Fatal(err)
	}
	if got := f.command(t, "reply "+code+" it is worse in the afternoon"); !strings.Contains(got, "Sent") {
		t.Fatalf("reply: %q", got)
	}
	st := f.command(t, "status "+code)
	for _, want := range []string{"acknowledged", "IT is on it", "worse in the afternoon"} {
		if !strings.Contains(st, want) {
			t.Errorf("status %q lacks %q", st, want)
		}
	}
	if got := f.command(t, "status AAAAAAAAAAAAAAAAAAAAAAAAAA"); !strings.Contains(got, "can't find") {
		t.Errorf("unknown code: %q", got)
	}
	// A comment that starts like a subcommand is still a comment.
	if got := f.command(t, "status meetings are too long"); codeRE.FindStringSubmatch(got) == nil {
		t.Errorf("comment starting with status: %q, want it submitted", got)
	}
}

func TestRefusedRequestsNeverReachTheServices(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
	body := form("a real comment")
	ts := strconv.FormatInt(f.now.Unix(), 10)
	good := sign(ts, body)
	old := strconv.FormatInt(f.now.Add(-5*time.Minute-time.Second).Unix(), 10)
	future := strconv.FormatInt(f.now.Add(5*time.Minute+time.Second).Unix(), 10)
	big := append(form("x"), []byte("&pad="+strings.Repeat("a", gateway.MaxBodyBytes))...)
	dup := []byte("command=%2Ffeedback&text=x&user_id=U1&user_id=U2")
	badEscape := []byte("command=%2Ffeedback&text=%zz&user_id=U1")
	for _, tc := range []struct {
		name    string
		body    []byte
		ts, sig string
		want    int
	}{
		{"tampered body", []byte(strings.Replace(string(body), "real", "fake", 1)), ts, good, http.StatusUnauthorized},
		{"tampered timestamp", body, strconv.FormatInt(f.now.Unix()-1, 10), good, http.StatusUnauthorized},
		{"wrong secret", body, ts, "v0=" + strings.Repeat("ab", 32), http.StatusUnauthorized},
		{"no signature", body, ts, "", http.StatusUnauthorized},
		{"no timestamp", body, "", good, http.StatusUnauthorized},
		{"stale", body, old, sign(old, body), http.StatusUnauthorized},
		{"from the future", body, future, sign(future, body), http.StatusUnauthorized},
		{"other scheme", body, ts, "v1=" + strings.TrimPrefix(good, "v0="), http.StatusUnauthorized},
		{"oversize, signed", big, ts, sign(ts, big), http.StatusBadRequest},
		{"field twice, signed", dup, ts, sign(ts, dup), http.StatusBadRequest},
		{"bad escape, signed", badEscape, ts, sign(ts, badEscape), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := f.post(t, tc.body, tc.ts, tc.sig); code != tc.want {
				t.Fatalf("HTTP %d %q, want %d", code, out, tc.want)
			}
		})
	}
	list, err := f.feedback.ListFeedback(f.env.As(context.Background(), auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Feedback) != 0 {
		t.Fatalf("after refused requests: %v, %v; want no comment", list, err)
	}
	// The signed original still goes through (the check is not simply refusing everything).
	if code, out := f.post(t, body, ts, good); code != http.StatusOK || codeRE.FindStringSubmatch(out) == nil {
		t.Fatalf("signed request: HTTP %d %q", code, out)
	}
}

func TestDirectoryFromFileAndEndpoint(t *testing.T) {
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csvFile, []byte("team_id,user_id,segment\n"+teamID+","+userID+",acme/sales\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := start(t, csvFile)
	if got := f.command(t, "from the csv"); codeRE.FindStringSubmatch(got) == nil {
		t.Fatalf("user of the CSV file: %q, want submitted", got)
	}
	put := func(token, contentType, body string) int {
		code, _ := f.put(t, token, contentType, body)
		return code
	}
	entry := `[{"team_id":"` + teamID + `","user_id":"U0OTHERUSER","segment":"acme/eng"}]`
	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", entry, http.StatusUnauthorized},
		{"submitter", f.env.Tokens[auth.RoleSubmitter], entry, http.StatusForbidden},
		{"hr of another org", f.env.OtherHR, entry, http.StatusForbidden},
		{"bad segment", f.env.Tokens[auth.RoleHR], `[{"user_id":"U1","segment":"Acme"}]`, http.StatusBadRequest},
		{"unknown field", f.env.Tokens[auth.RoleHR], `[{"user":"U1","segment":"acme"}]`, http.StatusBadRequest},
		{"hr", f.env.Tokens[auth.RoleHR], entry, http.StatusOK},
	} {
		if got := put(tc.token, "application/json", tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}

	// Nothing under the data dir or in NATS names a chat user.
	for _, root := range []string{f.env.DataDir, natstest.StoreDir(t, f.env.NATS)} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, id := range []string{userID, "U0OTHERUSER", teamID} {
				for _, enc := range []string{id, strings.ToLower(id), hex.EncodeToString([]byte(id)), base64.StdEncoding.EncodeToString([]byte(id)), base64.RawStdEncoding.EncodeToString([]byte(id))} {
					if bytes.Contains(b, []byte(enc)) {
						t.Errorf("%s holds the chat id %s", path, id)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.env.DataDir, "gateway", "directory.json")); err != nil {
		t.Fatalf("the directory is not persisted: %v", err)
	}
}
