package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config/cmdtest"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

var serviceName = feedbackv1.FeedbackService_ServiceDesc.ServiceName

var flags = append([]string{"comment-threshold", "daily-limit", "ack-deadline", "resolve-deadline", "notify-allow", "replica", "claim-ttl"}, cmdtest.ServiceFlags...)

var defaults = map[string]string{
	"listen": `"127.0.0.1:7102"`, "data-dir": `"./data"`, "nats-url": `"nats://127.0.0.1:4222"`,
	"min-group-size": "5", "comment-threshold": "10", "stream-replicas": "1", "max-streams": "1000",
	"claim-ttl": "30s", "log-format": `"text"`, "log-level": `"info"`, "event-retention": "720h0m0s",
}

// TestHelp: -h is a success, on stdout, and lists every flag with its VOIX_ variable and
// default, and VOIX_SECRET.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) || command.ExitCode(err, &stderr) != 0 {
		t.Fatalf("run -h = %v, want flag.ErrHelp and exit code 0", err)
	}
	cmdtest.CheckUsage(t, stdout.String(), flags, defaults, "VOIX_SECRET")
	if stderr.Len() != 0 {
		t.Fatalf("-h wrote to stderr: %q", stderr.String())
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"--min-group-size", "1"}, {"--log-format", "xml"}, {"--stream-replicas", "0"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if code := command.ExitCode(err, &stderr); code != 2 {
			t.Errorf("%v: exit code %d (%v), want 2", args, code, err)
		}
	}
}

// TestBinary runs the built command as an operator does: -h exits 0; started on a fresh data
// dir with --create-secret it serves, and SIGTERM stops it with exit code 0.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t)
	p := cmdtest.StartProcess(t, bin, []string{"-h"}, nil)
	if code := p.Wait(t); code != 0 || !strings.Contains(p.Stdout.String(), "VOIX_NATS_URL") {
		t.Fatalf("-h: exit %d, stdout %q; want 0 and the flags", code, p.Stdout)
	}

	s := natstest.Start(t)
	e := cmdtest.New(t)
	p = cmdtest.StartProcess(t, bin, e.ServiceArgs(s.ClientURL()), map[string]string{"VOIX_LOG_LEVEL": "debug"})
	cmdtest.WaitServing(t, p.Stderr.Addr(t, "grpc serving"), serviceName)
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; stderr:\n%s", code, p.Stderr)
	}
}

func submit(t *testing.T, e *cmdtest.Env, addr, key string) *feedbackv1.SubmitFeedbackResponse {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(e.As(context.Background(), auth.RoleSubmitter), 10*time.Second)
	defer cancel()
	resp, err := feedbackv1.NewFeedbackServiceClient(cc).SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{
		Segment: cmdtest.Org + "/eng", Text: "The VPN drops every hour", SubmitterRef: "U1", IdempotencyKey: key,
	})
	if err != nil {
		t.Fatalf("SubmitFeedback: %v", err)
	}
	return resp
}

// submittedEvents is how many FeedbackSubmitted events the stream holds.
func submittedEvents(natsURL string) (uint64, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.FeedbackSubmitted.Stream.Name)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.FeedbackSubmitted.All()))
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// TestStartsWhileNATSIsDown: the service starts while NATS is away, serves, and acknowledges
// a comment; once NATS is there, the comment's event reaches the stream.
func TestStartsWhileNATSIsDown(t *testing.T) {
	s := natstest.Start(t)
	dir, port, natsURL := natstest.StoreDir(t, s), natstest.Port(t, s), s.ClientURL()
	natstest.Stop(s)

	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, e.ServiceArgs(natsURL), nil)
	addr := r.Stderr.Addr(t, "grpc serving")
	cmdtest.WaitServing(t, addr, serviceName)
	resp := submit(t, e, addr, "while-nats-is-down")
	if resp.FeedbackId == "" {
		t.Fatalf("receipt %v, want an id", resp)
	}

	natstest.StartAt(t, dir, port)
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() error {
		n, err := submittedEvents(natsURL)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("stream holds %d submitted events, want 1", n)
		}
		return nil
	})
	for _, msg := range []string{"nats unreachable; serving without it and reconnecting in the background", "nats connected"} {
		if got := r.Stderr.Lines(msg); len(got) != 1 || !strings.Contains(got[0], "url="+natsURL) {
			t.Errorf("%q logged as %q, want once with url=%s", msg, got, natsURL)
		}
	}
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if t.Failed() {
		t.Logf("log:\n%s", r.Stderr)
	}
}

// TestNATSRestartIsLogged: a NATS restart is one warning and one info line, each naming the
// server and the service once.
func TestNATSRestartIsLogged(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, e.ServiceArgs(s.ClientURL()), nil)
	cmdtest.WaitServing(t, r.Stderr.Addr(t, "grpc serving"), serviceName)

	natstest.Restart(t, s)
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, msg := range []string{"nats disconnected; reconnecting", "nats reconnected"} {
			got := r.Stderr.Lines(msg)
			if len(got) != 1 {
				return fmt.Errorf("%d lines %q, want 1; log:\n%s", len(got), msg, r.Stderr)
			}
			if !strings.Contains(got[0], "url="+s.ClientURL()) || strings.Count(got[0], "service=") != 1 || !strings.Contains(got[0], "service=feedback ") {
				return fmt.Errorf("line %q: want url=%s and service=feedback once", got[0], s.ClientURL())
			}
		}
		return nil
	})
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestLogFormatJSON: --log-format json makes every line a JSON object, with the service named
// once.
func TestLogFormatJSON(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, append(e.ServiceArgs(s.ClientURL()), "--log-format", "json"), nil)
	var addr string
	poll.Until(t, 30*time.Second, 10*time.Millisecond, func() error {
		for _, l := range strings.Split(r.Stderr.String(), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "grpc serving" {
				addr, _ = line["addr"].(string)
				return nil
			}
		}
		return fmt.Errorf("no grpc serving line yet:\n%s", r.Stderr)
	})
	cmdtest.WaitServing(t, addr, serviceName)
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr.String()), "\n")
	for _, l := range lines {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if line["service"] != "feedback" || strings.Count(l, `"service":`) != 1 {
			t.Errorf("line %q: want \"service\":\"feedback\" once", l)
		}
	}
}

// TestFinishedDaysAreSealedAtStart: comments the binary took days ago (its clock set back
// with --clock-offset) are sealed by the next start, a process of its own with today's clock:
// it logs the move, their follow-up tokens still open their threads, and once it has stopped
// its store holds them in by_day, none left in by_day_recent.
func TestFinishedDaysAreSealedAtStart(t *testing.T) {
	bin := cmdtest.Build(t)
	s := natstest.Start(t)
	e := cmdtest.New(t)
	args := e.ServiceArgs(s.ClientURL())
	p := cmdtest.StartProcess(t, bin, append(slices.Clone(args), "--clock-offset", "-120h"), nil)
	addr := p.Stderr.Addr(t, "grpc serving")
	cmdtest.WaitServing(t, addr, serviceName)
	// A run the seal moves holds 64 KiB of by_day entries: 1,200 comments from 100 people.
	const n = 1200
	tokens := make([]*feedbackv1.SubmitFeedbackResponse, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				errs <- err
				return
			}
			defer cc.Close()
			client := feedbackv1.NewFeedbackServiceClient(cc)
			for i := w; i < n; i += 8 {
				ctx, cancel := context.WithTimeout(e.As(context.Background(), auth.RoleSubmitter), 10*time.Second)
				tokens[i], err = client.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{
					Segment: cmdtest.Org + "/eng", Text: fmt.Sprintf("The VPN drops every hour (%d)", i), SubmitterRef: fmt.Sprintf("U%d", i%100),
				})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("SubmitFeedback %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d; stderr:\n%s", code, p.Stderr)
	}

	p = cmdtest.StartProcess(t, bin, args, nil)
	addr = p.Stderr.Addr(t, "grpc serving")
	cmdtest.WaitServing(t, addr, serviceName)
	poll.Until(t, 30*time.Second, 10*time.Millisecond, func() error {
		if len(p.Stderr.Lines("feedback: sealed the index entries of finished days")) == 0 {
			return fmt.Errorf("no seal logged; log:\n%s", p.Stderr)
		}
		return nil
	})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := feedbackv1.NewFeedbackServiceClient(cc)
	for i := 0; i < n; i += 97 {
		th, err := client.GetThread(e.As(context.Background(), auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: tokens[i].FollowUpToken})
		if err != nil || th.Feedback.GetId() != tokens[i].FeedbackId {
			t.Errorf("GetThread with the token of %s after the seal: %s, %v", tokens[i].FeedbackId, th.GetFeedback().GetId(), err)
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d; stderr:\n%s", code, p.Stderr)
	}
	db, err := bolt.Open(filepath.Join(e.DataDir, "feedback", "feedback.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if sealed, recent := tx.Bucket(store.ByDay).Stats().KeyN, tx.Bucket(store.ByDayRecent).Stats().KeyN; sealed != n || recent != 0 {
			t.Errorf("by_day holds %d entries, by_day_recent %d; want %d, 0", sealed, recent, n)
		}
		return nil
	})
}
