// Package bench is `voix bench`: it starts the whole suite in this process on free ports (or
// targets a running `voix dev`), creates an organisation of 200 segments and a survey, and
// drives a bounded load from 64 concurrent clients. In the same run it measures the ceilings
// the figures are compared with: a bare gRPC echo server (same payload size, same clients),
// a durable-write server (the same calls, each storing its payload and an outbox record
// through the services' group committer before it answers) and the disk's fsync rate. It
// then waits for the pipeline to settle and checks that every acknowledged submission is
// stored and reached the aggregation (lost must be 0).
//
// The run has five phases, each a share of --duration: echo (1/5), durable writes (1/10),
// SubmitFeedback only (1/5: ingest_rps), SubmitResponse only (1/5: respond_rps), and a mixed
// day (3/10: comments, answers, follow-ups, upvotes and HR reads; the per-RPC figures).
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/trace"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
)

// Config configures a run. Zero values take the defaults.
type Config struct {
	// Duration bounds the load (all phases). Default 20 s.
	Duration time.Duration
	// Clients is the number of concurrent clients. Default 64.
	Clients int
	// Conns is the number of gRPC connections per service the clients share (the echo
	// server gets as many). Default 4.
	Conns int
	// Target is the host of a running `voix dev` (default ports); empty starts the suite in
	// this process.
	Target string
	// DataDir: with Target, the running suite's data dir (tokens.json, the stores); without,
	// where the in-process suite keeps its data (default: a temporary dir, removed after).
	DataDir string
	// Org is the organisation the load runs in; it must be the one the tokens are limited
	// to. Default "acme".
	Org string
	// Settle bounds the wait for the pipeline to drain after the load. Default 2 minutes.
	Settle time.Duration
	// Progress, when set, gets a progress line every second (a terminal).
	Progress io.Writer
	// Seed of the simulated people (0: random).
	Seed uint64
	// ResultsRespondents is how many people answer the closed survey GetResults reads,
	// before the load. Default 1000.
	ResultsRespondents int
	// CPUProfile, when set, gets a CPU profile of the phase CPUProfilePhase alone (echo,
	// durable, ingest, respond or mixed).
	CPUProfile      io.Writer
	CPUProfilePhase string
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.Conns <= 0 {
		c.Conns = 4
	}
	if c.Org == "" {
		c.Org = "acme"
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Minute
	}
	if c.ResultsRespondents <= 0 {
		c.ResultsRespondents = 1000
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
}

// Result is what a run measured; its JSON form is what --json writes.
type Result struct {
	DurationS float64 `json:"duration_s"`
	Clients   int     `json:"clients"`
	InProcess bool    `json:"in_process"`
	Segments  int     `json:"segments"`

	EchoRPS     float64 `json:"echo_rps"`
	EchoP99MS   float64 `json:"echo_p99_ms"`
	EchoPayload int     `json:"echo_payload_bytes"`
	FsyncPerS   float64 `json:"fsync_per_s"`
	// DurableRPS is the durable-write ceiling (durable.go): calls per second that each stored
	// their payload and an outbox record, committed by the services' group committer, before
	// answering. DurableRatio is that over echo_rps, IngestOfDurable ingest_rps over it: how
	// close SubmitFeedback comes to the least work a durable acknowledgement needs here.
	DurableRPS      float64 `json:"durable_rps"`
	DurableRatio    float64 `json:"durable_ratio"`
	DurableP99MS    float64 `json:"durable_p99_ms"`
	IngestOfDurable float64 `json:"ingest_of_durable"`
	IngestRPS       float64 `json:"ingest_rps"`
	IngestRatio     float64 `json:"ingest_ratio"`
	IngestP50MS     float64 `json:"ingest_p50_ms"`
	IngestP99MS     float64 `json:"ingest_p99_ms"`
	RespondRPS      float64 `json:"respond_rps"`
	RespondRatio    float64 `json:"respond_ratio"`
	RespondP99MS    float64 `json:"respond_p99_ms"`
	MixedOpsPerS    float64 `json:"mixed_ops_per_s"`
	FreshP50MS      float64 `json:"freshness_p50_ms"`
	FreshP99MS      float64 `json:"freshness_p99_ms"`
	FreshSamples    int     `json:"freshness_samples"`
	// FreshAfterKP50MS and FreshAfterKP99MS are freshness counted from the moment the item's
	// team had k new items since its previous release (pipeline.go): what remains once the
	// wait for k people, an anonymity rule, is taken out.
	FreshAfterKP50MS float64 `json:"freshness_after_k_p50_ms"`
	FreshAfterKP99MS float64 `json:"freshness_after_k_p99_ms"`
	// RelayP50MS..ScoredP99MS split a comment's freshness: from its ack to its
	// FeedbackSubmitted on NATS (feedback's outbox relay), and to its ItemScored (sentiment
	// applied it and relayed the score). The rest is the publish interval and the release.
	RelayP50MS  float64 `json:"relay_p50_ms"`
	RelayP99MS  float64 `json:"relay_p99_ms"`
	ScoredP50MS float64 `json:"scored_p50_ms"`
	ScoredP99MS float64 `json:"scored_p99_ms"`
	ApplyEPS    float64 `json:"sentiment_apply_eps"`
	LagMax      int     `json:"consumer_lag_max"`
	// DownstreamLagMax is, per feedback consumer of the aggregation's output (feedback-scored,
	// feedback-notify), its largest backlog during the run, and DownstreamDrainedS the seconds
	// from the end of the load until that backlog was first empty (-1: still not after the
	// settle and downstreamWait more).
	DownstreamLagMax   map[string]int     `json:"downstream_lag_max"`
	DownstreamDrainedS map[string]float64 `json:"downstream_drained_s"`
	SettleS            float64            `json:"settle_s"`
	Comments           int                `json:"comments"`
	Responses          int                `json:"responses"`
	Lost               int                `json:"lost"`
	LostDetail         []string           `json:"lost_detail,omitempty"`
	RSSMB              map[string]float64 `json:"rss_mb"`
	RSSNote            string             `json:"rss_note"`
	BytesPerComment    map[string]float64 `json:"bytes_per_comment"`
	// BytesPerResponse is pulse's file per acknowledged answer.
	BytesPerResponse   map[string]float64 `json:"bytes_per_response"`
	ResultsRespondents int                `json:"results_respondents"`
	// CPUUsPerEcho, CPUUsPerDurable, CPUUsPerIngest and CPUUsPerRespond are the process's CPU
	// time (user + system, every goroutine: clients, services, NATS, relays, consumers, GC)
	// over the phase divided by the calls it completed, in microseconds. In-process, this is
	// what one call costs the machine end to end; with --target it is only the bench's own
	// client side. Work a phase leaves behind (a consumer backlog) is counted in the next
	// phase.
	CPUUsPerEcho    float64 `json:"cpu_us_per_echo"`
	CPUUsPerDurable float64 `json:"cpu_us_per_durable"`
	CPUUsPerIngest  float64 `json:"cpu_us_per_ingest"`
	CPUUsPerRespond float64 `json:"cpu_us_per_respond"`
	// CPUS is each phase's process CPU time in seconds, CPUCores that over the phase's wall
	// time (2 is two cores busy).
	CPUS     map[string]float64 `json:"cpu_s"`
	CPUCores map[string]float64 `json:"cpu_cores"`
	// RPCs is the mixed phase, per RPC.
	RPCs map[string]RPCStats `json:"rpcs"`
	// Phases holds every phase's per-RPC figures.
	Phases map[string]map[string]RPCStats `json:"phases"`
}

// Phases are the phases of a run, in order.
var Phases = []string{"echo", "durable", "ingest", "respond", "mixed"}

// CheckPhase refuses a --cpuprofile-phase that names no phase ("" is the whole run).
func CheckPhase(name string) error {
	if name != "" && !slices.Contains(Phases, name) {
		return fmt.Errorf("--cpuprofile-phase %q: no such phase (one of %s)", name, strings.Join(Phases, ", "))
	}
	return nil
}

// downstreamWait bounds how long, once the aggregation has settled, the bench waits for
// feedback's downstream consumers to empty their backlog (it reports what is left).
const downstreamWait = 30 * time.Second

// Run runs the benchmark. The Result is filled as far as the run got, even with an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	res := &Result{ResultsRespondents: cfg.ResultsRespondents, Clients: cfg.Clients, InProcess: cfg.Target == "", Segments: Segments, Phases: map[string]map[string]RPCStats{}}
	if err := CheckPhase(cfg.CPUProfilePhase); err != nil {
		return res, err
	}
	st, err := startStack(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer st.close()

	nc, err := nats.Connect(st.natsURL, nats.UserInfo(st.tokens.NATSServicesUser, st.tokens.NATSServicesPassword))
	if err != nil {
		return res, fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	fresh := newFreshness(anonymity.DefaultMinGroupSize) // voix dev's k
	sub, err := watchUpdates(nc, fresh)
	if err != nil {
		return res, err
	}
	defer sub.Unsubscribe()
	stg := newStages()
	subs, err := watchStages(nc, stg)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}()

	if res.FsyncPerS, err = fsyncRate(st.dataDir, time.Second); err != nil {
		return res, fmt.Errorf("fsync probe: %w", err)
	}

	ld, err := newLoad(st, cfg.Org, cfg.Conns, newRecorder(), fresh)
	if err != nil {
		return res, err
	}
	defer ld.close()
	ld.stages = stg
	if err := ld.setup(ctx, cfg.Clients, cfg.ResultsRespondents); err != nil {
		return res, fmt.Errorf("setup: %w", err)
	}

	phase := &atomic.Value{}
	phase.Store("echo")
	stopProgress := progress(cfg.Progress, phase, ld)
	defer stopProgress()

	share := cfg.Duration / 5
	pc := &phaseCPU{profile: cfg.CPUProfile, profilePhase: cfg.CPUProfilePhase}
	// Echo ceiling, same payload size as a comment, same clients and connections.
	trace.Log(ctx, "bench.phase", "echo")
	if err := pc.begin("echo"); err != nil {
		return res, err
	}
	err = echoPhase(ctx, cfg, share, res)
	pc.end("echo", res.Phases["echo"][rpcEcho].Calls, res)
	if err != nil {
		return res, fmt.Errorf("echo: %w", err)
	}
	// Durable-write ceiling: the same calls, each committed to disk before its answer.
	trace.Log(ctx, "bench.phase", "durable")
	phase.Store("durable")
	if err := pc.begin("durable"); err != nil {
		return res, err
	}
	err = durablePhase(ctx, cfg, share/2, st.dataDir, res)
	pc.end("durable", res.Phases["durable"][rpcDurable].Calls, res)
	if err != nil {
		return res, fmt.Errorf("durable-write ceiling: %w", err)
	}

	lw := startLagWatch(ctx, js, 250*time.Millisecond)
	loadStart := time.Now()
	run := func(name string, d time.Duration, next func(*rand.Rand) op) (map[string]RPCStats, error) {
		phase.Store(name)
		trace.Log(ctx, "bench.phase", name) // marks the phases in a --trace file
		ld.rec = newRecorder()
		if err := pc.begin(name); err != nil {
			return nil, err
		}
		el, err := drive(ctx, cfg.Clients, d, cfg.Seed, next)
		s := ld.rec.stats(el)
		calls := 0
		for _, r := range s {
			calls += r.Calls
		}
		pc.end(name, calls, res)
		res.Phases[name] = s
		res.DurationS += el.Seconds()
		return s, err
	}
	s, err := run("ingest", share, func(*rand.Rand) op { return ld.submit })
	if err != nil {
		lw.halt()
		return res, err
	}
	res.IngestRPS, res.IngestP50MS, res.IngestP99MS = s[rpcSubmit].RPS, s[rpcSubmit].P50MS, s[rpcSubmit].P99MS
	s, err = run("respond", share, func(*rand.Rand) op { return ld.respondQuiet })
	if err != nil {
		lw.halt()
		return res, err
	}
	res.RespondRPS, res.RespondP99MS = s[rpcRespond].RPS, s[rpcRespond].P99MS
	mixedStart := time.Now()
	s, err = run("mixed", cfg.Duration-3*share-share/2, ld.mixed)
	if err != nil {
		lw.halt()
		return res, err
	}
	res.RPCs = s
	calls := 0
	for _, r := range s {
		calls += r.Calls
	}
	res.MixedOpsPerS = float64(calls) / time.Since(mixedStart).Seconds()
	if res.EchoRPS > 0 {
		res.IngestRatio, res.RespondRatio = res.IngestRPS/res.EchoRPS, res.RespondRPS/res.EchoRPS
		res.DurableRatio = res.DurableRPS / res.EchoRPS
	}
	if res.DurableRPS > 0 {
		res.IngestOfDurable = res.IngestRPS / res.DurableRPS
	}

	phase.Store("settle")
	trace.Log(ctx, "bench.phase", "settle")
	loadEnd := time.Now()
	ld.mu.Lock()
	res.Comments, res.Responses = len(ld.comments), ld.responses
	ld.mu.Unlock()
	settleErr := settle(ctx, js, res, cfg.Settle, fresh)
	res.SettleS = time.Since(loadEnd).Seconds()
	if settleErr == nil {
		lw.waitDownstream(ctx, downstreamWait)
	}
	samples := lw.halt()
	res.LagMax, res.ApplyEPS = lagFigures(samples, loadStart, loadEnd)
	res.DownstreamLagMax, res.DownstreamDrainedS = downstreamFigures(samples, loadEnd)
	res.FreshP50MS, res.FreshP99MS, res.FreshSamples = fresh.percentiles()
	res.RelayP50MS, res.RelayP99MS, res.ScoredP50MS, res.ScoredP99MS = stg.percentiles()
	res.FreshAfterKP50MS, res.FreshAfterKP99MS = fresh.afterKPercentiles()
	if settleErr != nil {
		return res, settleErr
	}
	if err := checkLost(ctx, ld, js, res); err != nil {
		return res, err
	}
	footprint(st, res)
	return res, nil
}

// echoPhase measures the bare gRPC ceiling.
func echoPhase(ctx context.Context, cfg Config, d time.Duration, res *Result) error {
	addr, stop, err := serveCeiling(&echoDesc, struct{}{})
	if err != nil {
		return err
	}
	defer stop()
	cs, err := conns(addr, cfg.Conns)
	if err != nil {
		return err
	}
	defer closeAll(cs)
	sample := &feedbackv1.SubmitFeedbackRequest{Segment: cfg.Org + "/d00/t0", Text: phrases[0] + " (bench abcd)", SubmitterRef: "employee-123456", IdempotencyKey: "bench-comment-123456"}
	res.EchoPayload = proto.Size(sample)
	payload := &wrapperspb.BytesValue{Value: make([]byte, res.EchoPayload)}
	rec := newRecorder()
	el, err := drive(ctx, cfg.Clients, d, cfg.Seed, func(*rand.Rand) op {
		return func(ctx context.Context, w int, _ *rand.Rand) error {
			t := time.Now()
			out := new(wrapperspb.BytesValue)
			err := cs[w%len(cs)].Invoke(ctx, echoMethod, payload, out)
			if ctx.Err() == nil {
				rec.add(rpcEcho, time.Since(t), err)
			}
			return err
		}
	})
	s := rec.stats(el)
	res.Phases["echo"] = s
	res.EchoRPS, res.EchoP99MS = s[rpcEcho].RPS, s[rpcEcho].P99MS
	return err
}

// settle waits until the outboxes are relayed (the streams hold an event per acknowledged
// comment and answer) and the aggregation consumers have nothing pending, then gives the
// releases a few publish intervals to show the last items.
func settle(ctx context.Context, js jetstream.JetStream, res *Result, bound time.Duration, fresh *freshness) error {
	deadline := time.Now().Add(bound)
	last := ""
	for {
		c, err1 := bus.Count(ctx, js, events.FeedbackSubmitted)
		r, err2 := bus.Count(ctx, js, events.PulseResponded)
		l, err3 := sampleLag(ctx, js)
		if err := errors.Join(err1, err2, err3); err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("FeedbackSubmitted %d/%d, PulseResponded %d/%d, lag %d", c, res.Comments, r, res.Responses, l.lag)
			if c >= res.Comments && r >= res.Responses && l.lag == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %v: %s", bound, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Items of released teams show at the next publish (every second), or once k new people
	// of the team are in: wait for them a little, not for ever.
	end := time.Now().Add(3 * time.Second)
	for fresh.waiting() > 0 && time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// lagFigures is the largest backlog seen, and the events per second the aggregation applied
// from the start of the load until its backlog was first empty after the load.
func lagFigures(samples []lagSample, start, end time.Time) (lagMax int, eps float64) {
	var first *lagSample
	for i := range samples {
		s := &samples[i]
		lagMax = max(lagMax, s.lag)
		if first == nil {
			first = s
		}
		if s.at.After(end) && s.lag == 0 {
			if d := s.at.Sub(first.at).Seconds(); d > 0 {
				eps = float64(s.applied-first.applied) / d
			}
			return lagMax, eps
		}
	}
	if n := len(samples); n > 1 {
		if d := samples[n-1].at.Sub(first.at).Seconds(); d > 0 {
			eps = float64(samples[n-1].applied-first.applied) / d
		}
	}
	return lagMax, eps
}

// checkLost counts acknowledged submissions that are missing: comments not listed by
// ListFeedback (as HR, the whole organisation), and comments or answers whose event is not in
// its stream (the aggregation consumers having nothing pending, an event in the stream is in
// the aggregates).
func checkLost(ctx context.Context, ld *load, js jetstream.JetStream, res *Result) error {
	listed := map[string]bool{}
	token := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := ld.fb(0).ListFeedback(as(cctx, ld.st.tokens.HR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: ld.org, PageSize: 200, PageToken: token})
		cancel()
		if err != nil {
			return fmt.Errorf("ListFeedback: %w", err)
		}
		for _, f := range page.Feedback {
			listed[f.Id] = true
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, c := range ld.comments {
		if !listed[c.id] {
			res.Lost++
			if len(res.LostDetail) < 20 {
				res.LostDetail = append(res.LostDetail, "comment "+c.id+" is not listed by ListFeedback")
			}
		}
	}
	for _, k := range []struct {
		kind  events.Kind
		acked int
	}{{events.FeedbackSubmitted, len(ld.comments)}, {events.PulseResponded, ld.responses}} {
		n, err := bus.Count(ctx, js, k.kind)
		if err != nil {
			return err
		}
		if n < k.acked {
			res.Lost += k.acked - n
			res.LostDetail = append(res.LostDetail, fmt.Sprintf("%s: %d in the stream, %d acknowledged", k.kind.Type, n, k.acked))
		}
	}
	return nil
}

// footprint fills the process RSS (in-process only) and the bytes on disk per comment.
func footprint(st *stack, res *Result) {
	res.RSSMB = map[string]float64{}
	if st.inProcess {
		res.RSSMB["voix"] = rssMB()
		res.RSSNote = "one process runs NATS and every service: this is its RSS, not a per-service figure"
	} else {
		res.RSSNote = "--target: the services run elsewhere; measure their RSS there"
	}
	res.BytesPerComment = map[string]float64{}
	if res.Comments == 0 {
		return
	}
	// Sentiment and NATS hold both comments and answers: their figure is per item.
	items := map[string]int{"feedback": res.Comments, "sentiment": res.Comments + res.Responses, "nats": res.Comments + res.Responses}
	for _, svc := range []string{"feedback", "sentiment", "nats"} {
		dir := filepath.Join(st.dataDir, svc)
		if _, err := os.Stat(dir); err == nil {
			res.BytesPerComment[svc] = float64(dirBytes(dir)) / float64(items[svc])
		}
	}
	res.BytesPerResponse = map[string]float64{}
	if dir := filepath.Join(st.dataDir, "pulse"); res.Responses > 0 {
		if _, err := os.Stat(dir); err == nil {
			res.BytesPerResponse["pulse"] = float64(dirBytes(dir)) / float64(res.Responses)
		}
	}
}

// progress prints a progress line to w every second until the returned func is called.
func progress(w io.Writer, phase *atomic.Value, ld *load) func() {
	if w == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				ld.mu.Lock()
				c, r := len(ld.comments), ld.responses
				ld.mu.Unlock()
				fmt.Fprintf(w, "\r\033[Kbench: %-8s %5.0fs  comments=%d responses=%d", phase.Load(), time.Since(start).Seconds(), c, r)
			}
		}
	}()
	return func() { close(stop); <-done }
}

// WriteJSON writes res to path.
func (res *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Report prints the table.
func (res *Result) Report(w io.Writer) {
	fmt.Fprintf(w, "voix bench: %d clients, %d segments, %.1fs of load (%s)\n\n", res.Clients, res.Segments, res.DurationS,
		map[bool]string{true: "suite in this process", false: "--target"}[res.InProcess])
	fmt.Fprintf(w, "  %-22s %10.0f /s   (payload %d B, p99 %.2f ms)\n", "gRPC echo ceiling", res.EchoRPS, res.EchoPayload, res.EchoP99MS)
	fmt.Fprintf(w, "  %-22s %10.0f /s\n", "disk fsync", res.FsyncPerS)
	fmt.Fprintf(w, "  %-22s %10.0f /s   %5.1f%% of echo, p99 %.2f ms (payload and outbox record committed, nothing else)\n", "durable-write ceiling", res.DurableRPS, 100*res.DurableRatio, res.DurableP99MS)
	fmt.Fprintf(w, "  %-22s %10.0f /s   %5.1f%% of echo, %.1f%% of durable, p50 %.2f ms, p99 %.2f ms\n", "SubmitFeedback (ingest)", res.IngestRPS, 100*res.IngestRatio, 100*res.IngestOfDurable, res.IngestP50MS, res.IngestP99MS)
	fmt.Fprintf(w, "  %-22s %10.0f /s   %5.1f%% of echo, p99 %.2f ms\n", "SubmitResponse", res.RespondRPS, 100*res.RespondRatio, res.RespondP99MS)
	fmt.Fprintf(w, "  %-22s echo %.0f, durable %.0f, ingest %.0f, respond %.0f (process CPU per call; cores busy: echo %.2f, durable %.2f, ingest %.2f, respond %.2f)\n", "CPU µs per call",
		res.CPUUsPerEcho, res.CPUUsPerDurable, res.CPUUsPerIngest, res.CPUUsPerRespond, res.CPUCores["echo"], res.CPUCores["durable"], res.CPUCores["ingest"], res.CPUCores["respond"])
	fmt.Fprintf(w, "  %-22s %10.0f /s\n", "mixed day, all calls", res.MixedOpsPerS)
	fmt.Fprintf(w, "  %-22s %10.0f /s   consumer lag max %d, settled %.1fs after the load\n", "sentiment apply", res.ApplyEPS, res.LagMax, res.SettleS)
	for _, k := range sortedKeys(res.DownstreamLagMax) {
		drained := fmt.Sprintf("empty %.1fs after the load", res.DownstreamDrainedS[k])
		if res.DownstreamDrainedS[k] < 0 {
			drained = fmt.Sprintf("not empty %v after settling", downstreamWait)
		}
		fmt.Fprintf(w, "  %-22s lag max %d, %s\n", k, res.DownstreamLagMax[k], drained)
	}
	fmt.Fprintf(w, "  %-22s p50 %.0f ms, p99 %.0f ms (%d items)\n", "freshness", res.FreshP50MS, res.FreshP99MS, res.FreshSamples)
	fmt.Fprintf(w, "  %-22s p50 %.0f ms, p99 %.0f ms\n", "  after k new people", res.FreshAfterKP50MS, res.FreshAfterKP99MS)
	fmt.Fprintf(w, "  %-22s p50 %.0f ms, p99 %.0f ms; to its score p50 %.0f ms, p99 %.0f ms\n", "comment ack to event", res.RelayP50MS, res.RelayP99MS, res.ScoredP50MS, res.ScoredP99MS)
	fmt.Fprintf(w, "  %-22s %d comments, %d answers acknowledged, lost %d\n", "acknowledged", res.Comments, res.Responses, res.Lost)
	for _, k := range sortedKeys(res.RSSMB) {
		fmt.Fprintf(w, "  %-22s %s %.0f MB (%s)\n", "rss", k, res.RSSMB[k], res.RSSNote)
	}
	var parts []string
	for _, k := range sortedKeys(res.BytesPerComment) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, res.BytesPerComment[k]))
	}
	for _, k := range sortedKeys(res.BytesPerResponse) {
		parts = append(parts, fmt.Sprintf("%s %.0f per answer", k, res.BytesPerResponse[k]))
	}
	fmt.Fprintf(w, "  %-22s %s (feedback per comment; sentiment, nats per comment or answer)\n\n", "bytes on disk", strings.Join(parts, ", "))
	fmt.Fprintf(w, "  %-16s %8s %7s %9s %9s %9s\n", "mixed day RPC", "calls", "errors", "p50 ms", "p90 ms", "p99 ms")
	for _, k := range sortedKeys(res.RPCs) {
		s := res.RPCs[k]
		fmt.Fprintf(w, "  %-16s %8d %7d %9.2f %9.2f %9.2f\n", k, s.Calls, s.Errors, s.P50MS, s.P90MS, s.P99MS)
	}
	for _, d := range res.LostDetail {
		fmt.Fprintln(w, "  LOST:", d)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
