package demo

import (
	"bytes"
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
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/gateway"
)

// workspace is the chat workspace of the demo's chat users.
const workspace = "T0DEMO"

// clients reach the suite: gRPC for the services, HTTP for the gateway.
type clients struct {
	pulse     pulsev1.PulseServiceClient
	feedback  feedbackv1.FeedbackServiceClient
	sentiment sentimentv1.SentimentServiceClient
	conns     []*grpc.ClientConn
	http      *http.Client
	gateway   string
	tokens    dev.Tokens
}

func dial(cfg Config, tokens dev.Tokens) (*clients, error) {
	c := &clients{gateway: cfg.GatewayAddr, tokens: tokens, http: &http.Client{
		Timeout: 15 * time.Second,
		// Idle connections are dropped before the gateway's server would close them (its read
		// timeout), so that a request never goes out on a connection being closed.
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers, IdleConnTimeout: 3 * time.Second},
	}}
	conn := func(addr string) (*grpc.ClientConn, error) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		c.conns = append(c.conns, cc)
		return cc, nil
	}
	cc, err := conn(cfg.PulseAddr)
	if err != nil {
		return nil, err
	}
	c.pulse = pulsev1.NewPulseServiceClient(cc)
	if cc, err = conn(cfg.FeedbackAddr); err != nil {
		c.close()
		return nil, err
	}
	c.feedback = feedbackv1.NewFeedbackServiceClient(cc)
	if cc, err = conn(cfg.SentimentAddr); err != nil {
		c.close()
		return nil, err
	}
	c.sentiment = sentimentv1.NewSentimentServiceClient(cc)
	return c, nil
}

func (c *clients) close() {
	for _, cc := range c.conns {
		cc.Close()
	}
	c.http.CloseIdleConnections()
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// hr, sub: calls as HR, and as the chat bot or intranet app that submits for people.
func (c *clients) hr(ctx context.Context) context.Context  { return withToken(ctx, c.tokens.HR) }
func (c *clients) sub(ctx context.Context) context.Context { return withToken(ctx, c.tokens.Submitter) }

// admin calls as the admin, as a CX integration does (RecordCustomerSignal).
func (c *clients) admin(ctx context.Context) context.Context { return withToken(ctx, c.tokens.Admin) }

// slash posts a slash command typed by chat user user, signed as the chat app signs it (with
// the real time: the gateway checks that a request is fresh), and returns the bot's answer.
// trigger makes the request unique, as Slack's trigger_id does. When the bot says that
// something went wrong (a service too slow to answer in time), the person tries again, as
// the bot asks: the gateway makes a repeated comment or answer count once.
func (c *clients) slash(ctx context.Context, user, command, text, trigger string) (string, error) {
	for wait := 250 * time.Millisecond; ; wait *= 2 {
		answer, err := c.slashOnce(ctx, user, command, text, trigger)
		if err != nil || !strings.Contains(answer, "something went wrong") || wait > 2*time.Second {
			return answer, err
		}
		if err := sleep(ctx, wait); err != nil {
			return "", err
		}
	}
}

// transient retries f while the service is too busy to answer: the calls it makes are
// idempotent (reads, or submissions with an idempotency key).
func transient(ctx context.Context, f func() error) error {
	for wait := 250 * time.Millisecond; ; wait *= 2 {
		err := f()
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded:
			if wait > 2*time.Second {
				return err
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func (c *clients) slashOnce(ctx context.Context, user, command, text, trigger string) (string, error) {
	body := url.Values{"command": {command}, "text": {text}, "user_id": {user}, "team_id": {workspace}, "trigger_id": {trigger}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(c.tokens.SlackSigningSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.gateway+"/slack/commands", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(gateway.HeaderTimestamp, ts)
	req.Header.Set(gateway.HeaderSignature, "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: HTTP %d %s", command, resp.StatusCode, bytes.TrimSpace(b))
	}
	var out struct{ Text string }
	if err := json.Unmarshal(b, &out); err != nil {
		return "", fmt.Errorf("%s: answer %q: %w", command, b, err)
	}
	return out.Text, nil
}

// putDirectory loads the chat directory as HR does.
func (c *clients) putDirectory(ctx context.Context, entries []gateway.Entry) error {
	body, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+c.gateway+"/admin/directory", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens.HR)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("PUT /admin/directory: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /admin/directory: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}
