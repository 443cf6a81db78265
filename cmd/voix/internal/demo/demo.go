// Package demo fills a `voix dev --demo-weeks N` suite with a living organisation, as
// `voix demo` does: people in departments and teams, a chat directory, routing rules, a weekly
// pulse, an onboarding cohort and the maturity diagnostic, while the suite's demo clock waits;
// then it starts the clock and, while it runs through the N weeks in about a minute, people
// answer the waves and comment (through the
// signed chat gateway, as a chat app would, or through the gRPC APIs, as an intranet app would),
// and HR answers, moves comments through the workflow, and authors follow up.
//
// Everything goes through the public APIs, with the tokens of the suite's tokens.json. What
// people do is planned from the seed on the simulated calendar before anything is sent, so two
// runs with one seed do the same things; one team's workload gets worse week after week and
// another's recognition better, so that the heatmap and the trends tell a story.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/pulse"
	"github.com/voix-dev/voix/services/sentiment"
)

// Config says where the suite is and what to seed. Zero values take the defaults of voix dev.
type Config struct {
	// DataDir is the suite's data dir, with tokens.json and demo-clock.json. Default "data".
	DataDir string
	// Org is the organisation of the suite's tokens. Default "acme".
	Org string
	// PulseAddr, FeedbackAddr and SentimentAddr are the gRPC addresses, GatewayAddr the
	// gateway's HTTP address. Defaults: voix dev's (127.0.0.1:7101, 7102, 7103, 7180).
	PulseAddr, FeedbackAddr, SentimentAddr, GatewayAddr string
	// Seed makes the organisation and what its people do.
	Seed uint64
	// People is the size of the organisation, 40..5000. Default 300.
	People int
	// Workers is how many calls run at once. Default 16.
	Workers int
	// Out receives a line per simulated week. Default: discarded.
	Out io.Writer
}

// Defaults of Config.
const (
	DefaultPeople  = 300
	DefaultWorkers = 16
)

// ErrNoDemoClock is returned when the suite does not run on a demo clock.
var ErrNoDemoClock = errors.New("voix dev is not running with --demo-weeks")

func (c *Config) defaults() error {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.DataDir, "data")
	def(&c.Org, "acme")
	def(&c.PulseAddr, pulse.DefaultListen)
	def(&c.FeedbackAddr, feedback.DefaultListen)
	def(&c.SentimentAddr, sentiment.DefaultListen)
	def(&c.GatewayAddr, gateway.DefaultListen)
	if c.People == 0 {
		c.People = DefaultPeople
	}
	if c.People < 40 || c.People > 5000 {
		return fmt.Errorf("people: must be 40..5000, got %d", c.People)
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return nil
}

// Counts is what a run created, kind by kind.
type Counts struct {
	Departments, Teams, People int
	// DirectoryEntries are the chat users HR loaded; TeamPicks the chat users who picked their
	// team with /feedback team instead.
	DirectoryEntries, TeamPicks int
	RoutingRules                int
	Surveys                     int
	// Waves are the weekly pulse's waves; ClosedWaves those closed at the end: all but the
	// last, which opened in the current week.
	Waves, ClosedWaves int
	// OnboardingInvitations are the newcomers an HR system reported.
	OnboardingInvitations int
	WeeklyResponses       int
	DiagnosticResponses   int
	OnboardingResponses   int
	// ChatResponses of all of them came through /pulse.
	ChatResponses int
	// ChatComments came through /feedback, WebComments through SubmitFeedback.
	ChatComments, WebComments int
	Replies, StatusChanges    int
	FollowUps, Upvotes        int
	// CustomerSignals are the weekly CSAT and NPS of the teams' customers a CX tool recorded.
	CustomerSignals int
	// Late are actions dropped because the demo could not keep up with the clock.
	Late int
}

// Result is what a run did, and where to look at it.
type Result struct {
	Counts Counts
	Org    string
	Seed   uint64
	// Weeks is how many simulated weeks were played.
	Weeks int
	// Skipped is how many weeks of the clock had passed before the demo started.
	Skipped int
	Elapsed time.Duration
	// Dashboard is the gateway's dashboard URL.
	Dashboard string
	// HRToken is the token to paste into it, from TokensFile.
	HRToken, TokensFile string
	// SurveyIDs are the weekly pulse, the diagnostic and the onboarding survey.
	WeeklyID, DiagnosticID, OnboardingID string
	// Overloaded and Recognised are the teams whose story to look for.
	Overloaded, Recognised string
}

// Report prints what the run created and how to see it.
func (r *Result) Report(w io.Writer) {
	c := r.Counts
	fmt.Fprintf(w, "\nvoix demo: %s (seed %d) lived %d weeks in %s\n\n", r.Org, r.Seed, r.Weeks, r.Elapsed.Round(time.Second))
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  (%d weeks of the demo clock had already passed when the demo started)\n", r.Skipped)
	}
	fmt.Fprintf(w, "  organisation    %d departments, %d teams, %d people\n", c.Departments, c.Teams, c.People)
	fmt.Fprintf(w, "  chat directory  %d people loaded by HR, %d picked their team in chat\n", c.DirectoryEntries, c.TeamPicks)
	fmt.Fprintf(w, "  routing rules   %d\n", c.RoutingRules)
	fmt.Fprintf(w, "  surveys         %d: weekly pulse (%d waves, %d closed), maturity diagnostic, onboarding (%d newcomers)\n",
		c.Surveys, c.Waves, c.ClosedWaves, c.OnboardingInvitations)
	fmt.Fprintf(w, "  responses       %d weekly, %d diagnostic, %d onboarding (%d through /pulse)\n",
		c.WeeklyResponses, c.DiagnosticResponses, c.OnboardingResponses, c.ChatResponses)
	fmt.Fprintf(w, "  comments        %d (%d through /feedback, %d through the API), in French and English\n",
		c.ChatComments+c.WebComments, c.ChatComments, c.WebComments)
	fmt.Fprintf(w, "  HR and authors  %d replies, %d status changes, %d follow-ups, %d upvotes\n",
		c.Replies, c.StatusChanges, c.FollowUps, c.Upvotes)
	fmt.Fprintf(w, "  customers       %d weekly CSAT and NPS signals of the teams' CX tools (the dashboard's Customer mirror)\n", c.CustomerSignals)
	if c.Late > 0 {
		fmt.Fprintf(w, "  late            %d actions dropped: this machine could not keep up with the demo clock\n", c.Late)
	}
	fmt.Fprintf(w, "\n  the story       %s: workload worse week after week; %s: recognition better and better\n", r.Overloaded, r.Recognised)
	fmt.Fprintf(w, "\nDashboard: %s\n  paste the hr token of %s:\n  %s\n", r.Dashboard, r.TokensFile, r.HRToken)
}

// maxLag is how far the demo clock may be past its start when the demo starts for the demo to
// play every week: the first wave opens a day or so in, and what was planned before the demo
// could start is done at once, well within the wave.
const maxLag = 3 * day

// run is one demo run.
type run struct {
	cfg    Config
	clock  dev.DemoClock
	tokens dev.Tokens
	*clients
	w *world

	// base is the simulated instant the plan starts at, weeks how many weeks it spans, stop
	// when it ends: when the demo clock catches up with real time (at the earliest).
	base  time.Time
	weeks int
	stop  time.Time
	// The weekly pulse has nWaves waves, the last opening at lastOpens (scheduleWeekly).
	nWaves    int
	lastOpens time.Time
	// final are the people who answer the last wave, in finalWave.
	final []*person
	// loc is the time zone of the weekly pulse.
	loc *time.Location

	weekly, diagnostic, onboarding string
	// dims are the dimensions of every question of the three surveys, by survey and id.
	dims map[string]map[string]question

	mu     sync.Mutex
	counts Counts
	waves  map[waveKey][]question // the questions of a wave, in order
	picked map[int]*pickOnce      // chat users who pick their own team
	errs   []error
}

type waveKey struct {
	survey string
	wave   uint32
}

type pickOnce struct {
	once sync.Once
	err  error
}

// Run seeds the suite of cfg and lives the weeks of its demo clock.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	began := time.Now()
	r := &run{cfg: cfg, waves: map[waveKey][]question{}, picked: map[int]*pickOnce{}, dims: map[string]map[string]question{}}
	tokensFile := filepath.Join(cfg.DataDir, "tokens.json")
	if err := r.readSuite(ctx, tokensFile); err != nil {
		return nil, err
	}
	var err error
	if r.clients, err = dial(cfg, r.tokens); err != nil {
		return nil, err
	}
	defer r.clients.close()
	if err := r.waitReady(ctx); err != nil {
		return nil, err
	}
	now := r.clock.Now()
	if !r.clock.Waiting && !now.Before(r.clock.CaughtUp()) {
		return nil, fmt.Errorf("the demo clock of %s caught up with real time at %s: nothing is left to play; "+
			"start voix dev --demo-weeks %d again on a new --data-dir (make demo) and run voix demo",
			cfg.DataDir, r.clock.CaughtUp().Format(time.TimeOnly), r.clock.Weeks)
	}
	r.base, r.weeks = r.clock.Start, r.clock.Weeks
	if !r.clock.Waiting && now.Sub(r.clock.Start) > maxLag {
		// Started late: play the whole weeks that are left.
		r.base = now.Truncate(time.Hour).Add(time.Hour)
		r.weeks = int(r.clock.CaughtUp().Sub(r.base) / week)
		if r.weeks < 1 {
			return nil, fmt.Errorf("the demo clock of %s is less than a week from real time: start voix dev --demo-weeks %d again on a new --data-dir (make demo) and run voix demo",
				cfg.DataDir, r.clock.Weeks)
		}
	}
	if r.loc, err = time.LoadLocation("Europe/Paris"); err != nil {
		r.loc = time.UTC
	}
	// The clock catches up CatchUp after it starts, and it starts after the setup below.
	r.stop = r.clock.CaughtUp()
	if r.clock.Waiting {
		r.stop = time.Now().Add(r.clock.CatchUp)
	}
	r.scheduleWeekly()
	r.w = newWorld(rand.New(rand.NewPCG(cfg.Seed, 1)), cfg.Org, cfg.People)
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	// The suite's clock stood still at its start while HR set things up: now the weeks pass.
	if r.clock.Waiting {
		if r.clock, err = dev.StartDemoClock(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("start the demo clock: %w", err)
		}
	}
	actions := r.plan(rand.New(rand.NewPCG(cfg.Seed, 2)))
	if err := r.execute(ctx, actions); err != nil {
		return nil, err
	}
	if err := r.finalWave(ctx, len(actions)); err != nil {
		return nil, err
	}
	// The weeks are over once the clock has caught up.
	if d := time.Until(r.clock.CaughtUp()); d > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
	sv, err := r.pulse.GetSurvey(r.hr(ctx), &pulsev1.GetSurveyRequest{SurveyId: r.weekly})
	if err != nil {
		return nil, fmt.Errorf("GetSurvey: %w", err)
	}
	r.counts.Waves = len(sv.Survey.Waves)
	for _, wv := range sv.Survey.Waves {
		if wv.Closed {
			r.counts.ClosedWaves++
		}
	}
	overloaded, recognised := "", ""
	for _, t := range r.w.teams {
		switch t.story {
		case overload:
			overloaded = t.path
		case recognition:
			recognised = t.path
		}
	}
	return &Result{
		Counts: r.counts, Org: cfg.Org, Seed: cfg.Seed, Weeks: r.weeks, Skipped: r.clock.Weeks - r.weeks,
		Elapsed: time.Since(began), Dashboard: "http://" + cfg.GatewayAddr + "/", HRToken: r.tokens.HR, TokensFile: tokensFile,
		WeeklyID: r.weekly, DiagnosticID: r.diagnostic, OnboardingID: r.onboarding,
		Overloaded: overloaded, Recognised: recognised,
	}, nil
}

// readSuite reads the suite's tokens and demo clock, waiting a few seconds for a suite that is
// starting.
func (r *run) readSuite(ctx context.Context, tokensFile string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(tokensFile)
		if err == nil {
			if err := json.Unmarshal(b, &r.tokens); err != nil {
				return fmt.Errorf("%s: %w", tokensFile, err)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return fmt.Errorf("%w: is voix dev running with --data-dir %s?", err, r.cfg.DataDir)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	c, err := dev.ReadDemoClock(r.cfg.DataDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (no %s in %s): the demo needs its clock, which starts weeks in the past; "+
			"start it on a new data dir with\n\n  voix dev --demo-weeks 12 --data-dir data-demo   (or: make demo)\n\nand then run voix demo --data-dir data-demo",
			ErrNoDemoClock, dev.DemoClockFile, r.cfg.DataDir)
	}
	if err != nil {
		return err
	}
	r.clock = c
	return nil
}

// waitReady waits for the services of a suite that is starting, and refuses one already seeded.
func (r *run) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := r.pulse.ListSurveys(r.hr(ctx), &pulsev1.ListSurveysRequest{SegmentPrefix: r.cfg.Org})
		if err == nil {
			if len(resp.Surveys) > 0 {
				return fmt.Errorf("%s already has surveys: voix demo seeds a new voix dev --demo-weeks (on a new --data-dir)", r.cfg.Org)
			}
			return nil
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return fmt.Errorf("pulse at %s: %w (is voix dev running?)", r.cfg.PulseAddr, err)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// add counts under the lock.
func (r *run) add(f func(c *Counts)) {
	r.mu.Lock()
	f(&r.counts)
	r.mu.Unlock()
}

// frac is how far into the plan t is, 0..1.
func (r *run) frac(t time.Time) float64 {
	return min(max(float64(t.Sub(r.base))/float64(time.Duration(r.weeks)*week), 0), 1)
}

const week = 7 * 24 * time.Hour

const day = 24 * time.Hour
