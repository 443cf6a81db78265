package dev

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// TestGatewayCarriesASlashCommandToFeedback sends signed /feedback commands, as a chat app
// configured with tokens.json's signing secret would, and checks that the comment is stored
// and scored; a request signed with another secret is refused.
func TestGatewayCarriesASlashCommandToFeedback(t *testing.T) {
	s := startSuite(t, t.TempDir(), 2)
	scored := scoredCounter(t, s)
	post := func(secret, text string) (int, string) { return slashCommand(t, s, secret, "U0GATEWAY1", text) }
	registerTeam(t, s, "acme/eng", 40) // a person picks among the teams HR registered
	if code, _ := post("not the secret", "team acme/eng"); code != http.StatusUnauthorized {
		t.Fatalf("badly signed request: HTTP %d, want 401", code)
	}
	if code, text := post(s.Tokens.SlackSigningSecret, "team acme/eng"); code != http.StatusOK || !strings.Contains(text, "acme/eng") {
		t.Fatalf("team: HTTP %d %q", code, text)
	}
	if code, text := post(s.Tokens.SlackSigningSecret, "Les outils de build sont trop lents"); code != http.StatusOK || text == "" {
		t.Fatalf("feedback: HTTP %d %q", code, text)
	}
	// Through feedback, the FEEDBACK stream and the sentiment service.
	poll.Until(t, wait, tick, scoredN(scored, 1))
}

// registerTeam sets a segment's headcount in the segment registry (the pulse service) as hr,
// which makes it a team a chat user may pick once the feedback service has its copy.
func registerTeam(t *testing.T, s *Suite, path string, headcount uint32) {
	t.Helper()
	hr := servicetest.WithToken(context.Background(), s.Tokens.HR)
	pc := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
	if _, err := pc.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: path, Headcount: headcount}); err != nil {
		t.Fatalf("UpsertSegment(%s): %v", path, err)
	}
	fc := feedbackClient(t, s)
	poll.Until(t, wait, tick, func() error {
		resp, err := fc.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: path})
		if err != nil {
			return fmt.Errorf("feedback ListSegments(%s): %w", path, err)
		}
		for _, seg := range resp.Segments {
			if seg.Path == path && seg.Headcount == headcount {
				return nil
			}
		}
		return fmt.Errorf("the feedback service has no copy of %s with headcount %d yet: %v", path, headcount, resp.Segments)
	})
}

// slashCommand posts /feedback text for chat user user, signed with secret, and returns the
// HTTP status and the text of the answer.
func slashCommand(t *testing.T, s *Suite, secret, user, text string) (int, string) {
	t.Helper()
	body := url.Values{"command": {"/feedback"}, "text": {text}, "user_id": {user}, "team_id": {"T1"}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Gateway.Addr()+"/slack/commands", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /slack/commands: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct{ Text string }
	_ = json.Unmarshal(b, &r)
	return resp.StatusCode, r.Text
}
