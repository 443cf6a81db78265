// Package dev runs the whole voix suite in one process, as `voix dev` does: an embedded NATS
// server with JetStream on file, the pulse, feedback and sentiment services, and the tokens a
// developer needs to call them, all under one data dir that survives restarts.
package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/voix-dev/voix/cmd/voix/internal/tokenfile"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/pulse"
	"github.com/voix-dev/voix/services/sentiment"
)

// Config configures a dev suite. Zero values take the defaults of docs/design.md (Running).
type Config struct {
	// DataDir holds everything: NATS under nats/, one store per service, tokens.json. Default
	// "./data".
	DataDir string
	// Host is the address every listener binds. Default 127.0.0.1.
	Host string
	// NATSPort default 4222; -1 picks a free port.
	NATSPort int
	// PulseListen, FeedbackListen, SentimentListen default to ports 7101, 7102, 7103 on Host,
	// GatewayListen (HTTP) to 7180; "127.0.0.1:0" picks a free port.
	PulseListen, FeedbackListen, SentimentListen, GatewayListen string
	// Org is the organisation the non-admin dev tokens are limited to. Default "acme".
	Org string
	// MinGroupSize is k for the sentiment aggregates. Default 5.
	MinGroupSize int
	// Log receives the services' logs. Default: discarded.
	Log *slog.Logger
	// Now is the services' clock. Default time.Now.
	Now func() time.Time
	// DemoWeeks, for demos only, runs the services on a DemoClock set DemoWeeks weeks in the
	// past, which waits until `voix demo` starts it (StartDemoClock) and then catches up with
	// real time after DemoDuration; the scheduler, publisher and deadline checks run often
	// enough for a week that lasts seconds. 0 (the default) is the real clock. It needs a data dir without data, and excludes Now. The gateway keeps
	// the real clock: it only checks that chat requests are fresh.
	DemoWeeks int
	// DemoDuration is how long the demo clock takes to catch up. Default DefaultDemoDuration.
	DemoDuration time.Duration
	// NotifyAllow is feedback's egress allow-list (feedback.NotifyConfig.Allow, flag
	// --notify-allow): IPs, CIDR ranges and host names that notification targets may reach
	// although they are loopback, link-local, private or metadata addresses, such as a webhook
	// receiver on this machine. Default: none.
	NotifyAllow []string
}

func (c *Config) defaults() error {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.NATSPort == 0 {
		c.NATSPort = 4222
	}
	def := func(p *string, port int) {
		if *p == "" {
			*p = net.JoinHostPort(c.Host, strconv.Itoa(port))
		}
	}
	def(&c.PulseListen, 7101)
	def(&c.FeedbackListen, 7102)
	def(&c.SentimentListen, 7103)
	def(&c.GatewayListen, 7180)
	if c.Org == "" {
		c.Org = "acme"
	}
	if _, err := segment.Parse(c.Org); err != nil {
		return fmt.Errorf("org: %w", err)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case c.DemoWeeks < 0:
		return fmt.Errorf("demo weeks: must be 0 (off) or more, got %d", c.DemoWeeks)
	case c.DemoWeeks > 0 && c.Now != nil:
		return errors.New("demo weeks: the demo clock replaces Now; set one of them")
	case c.DemoDuration < 0:
		return fmt.Errorf("demo duration: must be positive, got %v", c.DemoDuration)
	case c.DemoDuration == 0:
		c.DemoDuration = DefaultDemoDuration
	}
	return nil
}

// Tokens is the content of <data-dir>/tokens.json: what a developer pastes into grpcurl and
// nats. The services only ever see the hashes of the bearer tokens.
type Tokens struct {
	Submitter          string `json:"submitter"`
	Manager            string `json:"manager"`
	HR                 string `json:"hr"`
	Admin              string `json:"admin"`
	NATSPortalUser     string `json:"nats_portal_user"`
	NATSPortalPassword string `json:"nats_portal_password"`
	// The services' own NATS user, full permissions.
	NATSServicesUser     string `json:"nats_services_user"`
	NATSServicesPassword string `json:"nats_services_password"`
	// The CX tools' NATS user: publishes customer signals on voix.cx.<segment> only
	// (embednats.CXUser); connect with the inbox prefix embednats.CXInboxPrefix.
	NATSCXUser     string `json:"nats_cx_user"`
	NATSCXPassword string `json:"nats_cx_password"`
	// The signing secret a Slack-style app signs its requests to the gateway with.
	SlackSigningSecret string `json:"slack_signing_secret"`
}

// Suite is a running dev suite.
type Suite struct {
	cfg       Config
	NATS      *server.Server
	Pulse     *pulse.Service
	Feedback  *feedback.Service
	Sentiment *sentiment.Service
	Gateway   *gateway.Service
	Tokens    Tokens
	// TokensFile is where Tokens was written.
	TokensFile string
	// Clock is the demo clock (Config.DemoWeeks) as the suite started it, waiting; nil on the
	// real clock. DemoClock is the clock now.
	Clock *DemoClock

	clock     atomic.Pointer[DemoClock]
	clockDone chan struct{}
	clockWG   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start brings the suite up; on error everything already started is stopped.
func Start(ctx context.Context, cfg Config) (_ *Suite, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Suite{cfg: cfg, TokensFile: filepath.Join(cfg.DataDir, "tokens.json")}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// voix dev is for one machine: no TLS anywhere, and that is only safe on loopback.
	cfg.Log.Info("voix dev: plain gRPC, HTTP and NATS without TLS, for loopback only; "+
		"a deployment runs each service alone with --tls-cert (docs/operations.md)", "host", cfg.Host)
	tm, err := s.startClock()
	if err != nil {
		return nil, err
	}
	if s.Tokens, err = loadOrCreateTokens(s.TokensFile); err != nil {
		return nil, err
	}
	if err := writeTokenHashes(host.DefaultTokensFile(cfg.DataDir), s.Tokens, cfg.Org); err != nil {
		return nil, err
	}
	// One secret for the whole suite, made on the first run: the services share the data dir
	// and never make one of their own.
	if _, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(cfg.DataDir)); err != nil {
		return nil, err
	}
	s.NATS, err = embednats.Start(embednats.Config{
		Host:       cfg.Host,
		Port:       cfg.NATSPort,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		SyncAlways: true,
		Users: []embednats.User{
			{Name: s.Tokens.NATSServicesUser, Password: s.Tokens.NATSServicesPassword},
			embednats.PortalUser(s.Tokens.NATSPortalUser, s.Tokens.NATSPortalPassword, cfg.Org),
			embednats.CXUser(s.Tokens.NATSCXUser, s.Tokens.NATSCXPassword),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	natsCfg := bus.Config{URL: s.NATS.ClientURL(), User: s.Tokens.NATSServicesUser, Password: s.Tokens.NATSServicesPassword, Retention: bus.DefaultRetention}

	if s.Sentiment, err = sentiment.Start(ctx, sentiment.Config{
		Listen: cfg.SentimentListen, DataDir: cfg.DataDir, NATS: natsCfg,
		MinGroupSize: cfg.MinGroupSize, Log: cfg.Log, Now: s.cfg.Now, PublishInterval: tm.publish,
	}); err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	if s.Feedback, err = feedback.Start(ctx, feedback.Config{
		Listen: cfg.FeedbackListen, DataDir: cfg.DataDir, NATS: natsCfg, MinGroupSize: cfg.MinGroupSize,
		Log: cfg.Log, Now: s.cfg.Now, DeadlineInterval: tm.deadlines, Notify: feedback.NotifyConfig{Allow: cfg.NotifyAllow},
	}); err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	if s.Pulse, err = pulse.Start(ctx, pulse.Config{
		Listen: cfg.PulseListen, DataDir: cfg.DataDir, NATS: natsCfg, Log: cfg.Log, Now: s.cfg.Now,
		ScheduleEvery: tm.schedule,
	}); err != nil {
		return nil, fmt.Errorf("pulse: %w", err)
	}
	if s.Gateway, err = gateway.Start(ctx, gateway.Config{
		Listen: cfg.GatewayListen, DataDir: cfg.DataDir, SigningSecret: []byte(s.Tokens.SlackSigningSecret),
		FeedbackAddr: s.Feedback.Addr(), PulseAddr: s.Pulse.Addr(), SentimentAddr: s.Sentiment.Addr(),
		MinGroupSize: cfg.MinGroupSize, Token: s.Tokens.Submitter, Log: cfg.Log, Now: tm.gatewayNow,
	}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return s, nil
}

// timing is how often the services' loops run, and the gateway's clock. Zero values take the
// services' defaults.
type timing struct {
	schedule, publish, deadlines time.Duration
	gatewayNow                   func() time.Time
}

// startClock sets s.cfg.Now: the real clock (or the one the caller gave), or a new demo clock,
// written to the data dir for `voix demo`. With the demo clock, the pulse scheduler runs every
// simulated hour (a weekly wave open five days sees about 120 passes instead of 3 or 4) and the
// sentiment publisher every six, within 10 ms..1 s of real time; the gateway keeps the real
// clock, since what it checks is that a chat request was signed in the last five real minutes.
func (s *Suite) startClock() (timing, error) {
	path := filepath.Join(s.cfg.DataDir, DemoClockFile)
	if s.cfg.DemoWeeks == 0 {
		if s.cfg.Now == nil {
			s.cfg.Now = time.Now
		}
		// A clock left by an earlier demo run would tell `voix demo` the wrong time.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return timing{}, err
		}
		return timing{gatewayNow: s.cfg.Now}, nil
	}
	if err := checkNoData(s.cfg.DataDir); err != nil {
		return timing{}, fmt.Errorf("--demo-weeks: %w", err)
	}
	c := NewWaitingDemoClock(s.cfg.DemoWeeks, s.cfg.DemoDuration, time.Now())
	if err := WriteDemoClock(s.cfg.DataDir, c); err != nil {
		return timing{}, fmt.Errorf("demo clock: %w", err)
	}
	s.Clock = &c
	s.clock.Store(&c)
	s.cfg.Now = func() time.Time { return s.clock.Load().Now() }
	s.clockDone = make(chan struct{})
	s.clockWG.Go(s.followClock)
	every := func(sim, floor time.Duration) time.Duration {
		return min(max(c.realDuration(sim), floor), time.Second)
	}
	return timing{
		schedule:   every(time.Hour, 10*time.Millisecond),
		publish:    every(6*time.Hour, 100*time.Millisecond),
		deadlines:  time.Second, // the least the feedback service takes
		gatewayNow: time.Now,
	}, nil
}

// DemoClock is the demo clock now, nil on the real clock.
func (s *Suite) DemoClock() *DemoClock { return s.clock.Load() }

// followClock reads the demo clock's file until `voix demo` has started the clock, and then
// runs the services on it.
func (s *Suite) followClock() {
	t := time.NewTicker(pollClock)
	defer t.Stop()
	for {
		select {
		case <-s.clockDone:
			return
		case <-t.C:
		}
		c, err := ReadDemoClock(s.cfg.DataDir)
		if err != nil {
			continue // being replaced, or removed by hand: keep the clock as it is
		}
		if !c.Waiting && c.Start.Equal(s.Clock.Start) {
			s.clock.Store(&c)
			s.cfg.Log.Info("voix dev: the demo clock runs", "from", c.Start, "caught_up", c.CaughtUp())
			return
		}
	}
}

// NATSURL is the embedded server's client URL.
func (s *Suite) NATSURL() string { return s.NATS.ClientURL() }

// Close stops the services, then NATS. Acknowledged submissions are all on disk. Closing
// again does nothing more.
func (s *Suite) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Suite) close() error {
	if s.clockDone != nil {
		close(s.clockDone)
		s.clockWG.Wait()
	}
	var errs []error
	if s.Gateway != nil { // first: it calls the others
		errs = append(errs, s.Gateway.Close())
	}
	if s.Pulse != nil {
		errs = append(errs, s.Pulse.Close())
	}
	if s.Feedback != nil {
		errs = append(errs, s.Feedback.Close())
	}
	if s.Sentiment != nil {
		errs = append(errs, s.Sentiment.Close())
	}
	if s.NATS != nil {
		s.NATS.Shutdown()
		s.NATS.WaitForShutdown()
	}
	return errors.Join(errs...)
}

// loadOrCreateTokens keeps the tokens of an earlier run, so a restart changes nothing for the
// developer, and creates any that are missing.
func loadOrCreateTokens(path string) (Tokens, error) {
	var t Tokens
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &t); err != nil {
			return t, fmt.Errorf("%s: %w (delete it to get new tokens)", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return t, err
	}
	changed := false
	fill := func(p *string, gen func() (string, error)) error {
		if *p != "" {
			return nil
		}
		v, err := gen()
		*p, changed = v, true
		return err
	}
	fixed := func(v string) func() (string, error) { return func() (string, error) { return v, nil } }
	for _, f := range []struct {
		p   *string
		gen func() (string, error)
	}{
		{&t.Submitter, auth.NewToken}, {&t.Manager, auth.NewToken}, {&t.HR, auth.NewToken}, {&t.Admin, auth.NewToken},
		{&t.NATSPortalUser, fixed("portal")}, {&t.NATSPortalPassword, auth.NewToken},
		{&t.NATSServicesUser, fixed("services")}, {&t.NATSServicesPassword, auth.NewToken},
		{&t.NATSCXUser, fixed("cx")}, {&t.NATSCXPassword, auth.NewToken},
		{&t.SlackSigningSecret, auth.NewToken},
	} {
		if err := fill(f.p, f.gen); err != nil {
			return t, err
		}
	}
	if !changed {
		return t, nil
	}
	b, err = json.MarshalIndent(t, "", "  ")
	if err != nil {
		return t, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return t, err
	}
	return t, os.Rename(tmp, path)
}

// writeTokenHashes makes the file the services authenticate against (hashes only) hold the
// dev tokens of t, replacing the records named dev-*, and keeps every other record: a token
// an operator added with voix token create survives a restart of voix dev.
func writeTokenHashes(path string, t Tokens, org string) error {
	rec := func(name string, role auth.Role, prefix, tok string) auth.TokenRecord {
		return auth.TokenRecord{Name: name, Role: role, Prefix: prefix, SHA256: auth.HashToken(tok)}
	}
	own := []auth.TokenRecord{
		rec("dev-submitter", auth.RoleSubmitter, org, t.Submitter),
		rec("dev-manager", auth.RoleManager, org, t.Manager),
		rec("dev-hr", auth.RoleHR, org, t.HR),
		rec("dev-admin", auth.RoleAdmin, "", t.Admin),
	}
	return tokenfile.Update(path, true, func(f *auth.TokenFile) error {
		kept := slices.DeleteFunc(f.Tokens, func(r auth.TokenRecord) bool {
			return slices.ContainsFunc(own, func(o auth.TokenRecord) bool { return o.Name == r.Name || o.SHA256 == r.SHA256 })
		})
		f.Tokens = append(own, kept...)
		return nil
	})
}

// Banner is what `voix dev` prints once everything is up: where things are and how to call them.
func (s *Suite) Banner() string {
	abs, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		abs = s.cfg.DataDir
	}
	return fmt.Sprintf(`voix dev is running (Ctrl-C stops it; data survives restarts)

  NATS       %s   (JetStream on file: %s)
  pulse      %s
  feedback   %s
  sentiment  %s
  gateway    http://%s/slack/commands   (signing secret: slack_signing_secret in the tokens)
  data       %s
  tokens     %s

Submit anonymous feedback:

  grpcurl -plaintext -H "authorization: Bearer $(jq -r .submitter %s)" \
    -d '{"segment":"%s/engineering","text":"Les revues de code sont vraiment utiles","submitter_ref":"U123"}' \
    %s voix.feedback.v1.FeedbackService/SubmitFeedback

Watch aggregates as an HR portal would:

  nats --server %s --user portal --password "$(jq -r .nats_portal_password %s)" sub 'voix.sentiment.updated.>'

`, s.NATSURL(), filepath.Join(abs, "nats"), s.Pulse.Addr(), s.Feedback.Addr(), s.Sentiment.Addr(),
		s.Gateway.Addr(), abs, s.TokensFile, s.TokensFile, s.cfg.Org, s.Feedback.Addr(), s.NATSURL(), s.TokensFile) + s.demoBanner()
}

// demoBanner says what the demo clock does, and how to fill the suite and watch it.
func (s *Suite) demoBanner() string {
	if s.Clock == nil {
		return ""
	}
	demo, watch := "./bin/voix demo --data-dir "+s.cfg.DataDir, "./bin/voix watch --data-dir "+s.cfg.DataDir
	for _, f := range []struct{ flag, addr, def string }{
		{"--pulse-addr", s.Pulse.Addr(), pulse.DefaultListen},
		{"--feedback-addr", s.Feedback.Addr(), feedback.DefaultListen},
		{"--sentiment-addr", s.Sentiment.Addr(), sentiment.DefaultListen},
		{"--gateway-addr", s.Gateway.Addr(), gateway.DefaultListen},
	} {
		if f.addr != f.def {
			demo += " " + f.flag + " " + f.addr
			if f.flag == "--sentiment-addr" {
				watch += " " + f.flag + " " + f.addr
			}
		}
	}
	if s.cfg.Org != "acme" {
		demo += " --org " + s.cfg.Org
		watch += " --segment " + s.cfg.Org
	}
	return fmt.Sprintf(`DEMO CLOCK (for demos only): the services' time is set %d weeks back, to %s, and stands
still until voix demo starts it; then it runs about %.0f times faster and catches up with real
time in %s (and runs normally after that). In another terminal, fill the organisation while
the weeks pass, then open the dashboard at http://%s/ with the hr token of %s:

  %s

Watch the released aggregates as JSON lines (the current state, then every release):

  %s

`, s.Clock.Weeks, s.Clock.Start.Format("Mon 2 Jan 2006 15:04 MST"), s.Clock.Speed, s.Clock.CatchUp.Round(time.Second),
		s.Gateway.Addr(), s.TokensFile, demo, watch)
}
