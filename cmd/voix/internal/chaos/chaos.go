// Package chaos is voix's crash test: it holds the "nothing lost, nothing counted twice"
// promise against processes that die at any instant.
//
// A run starts a real nats-server (its own process, JetStream on file with sync_interval:
// always) and pulse, feedback and sentiment, each as its own process with its own data dir.
// Simulated employees submit comments, survey responses, follow-ups and upvotes concurrently,
// and retry every call that fails with the same idempotency key, as a real client would. Every
// call that returns OK is acknowledged, and the harness remembers what it acknowledged.
// Meanwhile, every 1 to 4 seconds, one of the four processes is killed (SIGKILL) and started
// again after a short pause, with the same flags, data dir and port.
//
// When the time is up, the load stops, everything is brought back, and the harness waits for
// the system to settle: every outbox relayed (the streams hold as many events as were
// acknowledged) and every durable consumer caught up. Then it checks that
//
//   - every acknowledged comment is readable by HR, listed once, scored, carries exactly its
//     acknowledged upvotes, and its thread holds every acknowledged follow-up once;
//   - the closed survey counts exactly the acknowledged responses;
//   - the FEEDBACK and PULSE streams hold each acknowledged item's event once (by ce-id);
//   - the sentiment service applied every acknowledged item (its processed_events records)
//     and counted each once: the organisation's all-dimensions weekly rollups count exactly
//     the acknowledged comments plus the acknowledged scale answers.
//
// It ends with "chaos: acked=N lost=L duplicated=D kills=K settle=Ss" and fails unless L and
// D are 0. With LongOutage, the sentiment service also stays down for longer than JetStream's
// duplicate window (bus.DuplicateWindow, 2 minutes, fixed in the binaries), so what it
// receives late is deduplicated by its consumers alone; such a run takes over two minutes.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	"github.com/voix-dev/voix/services/platform/bus"
)

// Config configures a run.
type Config struct {
	// BinDir holds the pulse, feedback and sentiment binaries (make build). Required.
	BinDir string
	// NATSServer is the nats-server binary. Default: built into Dir/bin with BuildNATSServer.
	NATSServer string
	// Dir is where the run writes everything: data dirs, the NATS store, logs. Required.
	Dir string
	// Duration of the load and the kills. Default 60 s.
	Duration time.Duration
	// Workers is how many simulated employees act at once. Default 32.
	Workers int
	// Seed makes the choices of actions, victims and pauses reproducible (not their timing).
	// Default: random.
	Seed uint64
	// LongOutage keeps the sentiment service down for longer than the duplicate window once;
	// Duration is raised to cover it.
	LongOutage bool
	// StallTimeout is how long the system may go without progress (streams and consumers
	// unchanged) while it settles before the run gives up on it. Default 2 minutes, four times
	// the consumers' ack wait.
	StallTimeout time.Duration
	// Log receives progress lines. Default: discarded.
	Log io.Writer
}

// Result is what a run acknowledged, did and found.
type Result struct {
	// Acked counts the acknowledged items, each once: comments, follow-ups, responses, upvotes.
	Acked                                   int
	Comments, FollowUps, Responses, Upvotes int
	// Retries counts calls that failed and were sent again.
	Retries int
	// Kills counts the processes killed, by name.
	Kills map[string]int
	// Settle is how long the system took to settle once everything was back up.
	Settle time.Duration
	// Republished counts acknowledged items whose event a stream holds more than once but a
	// consumer absorbed (SENTIMENT's scores): allowed, reported for the long outage.
	Republished int
	// Lost and Duplicated are the findings, one line each, with the evidence; LostN and
	// DuplicatedN count the items concerned (an item missing from two places counts twice).
	Lost, Duplicated   []string
	LostN, DuplicatedN int
}

// KillCount is the number of processes killed.
func (r Result) KillCount() int {
	n := 0
	for _, k := range r.Kills {
		n += k
	}
	return n
}

// OK reports whether nothing acknowledged was lost or counted twice.
func (r Result) OK() bool { return r.LostN == 0 && r.DuplicatedN == 0 }

// Line is the run's summary line.
func (r Result) Line() string {
	return fmt.Sprintf("chaos: acked=%d lost=%d duplicated=%d kills=%d settle=%.1fs",
		r.Acked, r.LostN, r.DuplicatedN, r.KillCount(), r.Settle.Seconds())
}

// Report writes every finding, what was acknowledged and killed, then the summary line.
func (r Result) Report(w io.Writer) {
	for _, l := range r.Lost {
		fmt.Fprintln(w, "lost:", l)
	}
	for _, d := range r.Duplicated {
		fmt.Fprintln(w, "duplicated:", d)
	}
	fmt.Fprintf(w, "chaos: comments=%d follow-ups=%d responses=%d upvotes=%d retries=%d republished=%d\n",
		r.Comments, r.FollowUps, r.Responses, r.Upvotes, r.Retries, r.Republished)
	fmt.Fprintf(w, "chaos: killed nats=%d pulse=%d feedback=%d sentiment=%d\n",
		r.Kills["nats"], r.Kills["pulse"], r.Kills["feedback"], r.Kills["sentiment"])
	fmt.Fprintln(w, r.Line())
}

// lost and dup record findings.
func (r *Result) lost(n int, format string, args ...any) {
	r.LostN += n
	r.Lost = append(r.Lost, fmt.Sprintf(format, args...))
}

func (r *Result) dup(n int, format string, args ...any) {
	r.DuplicatedN += n
	r.Duplicated = append(r.Duplicated, fmt.Sprintf(format, args...))
}

// longOutage is how long the sentiment service stays down in the LongOutage variant.
const longOutage = bus.DuplicateWindow + 15*time.Second

// BuildNATSServer builds nats-server, at the version cmd/voix requires, into dir. It runs
// `go build` in the current directory, which must be inside the voix workspace.
func BuildNATSServer(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server (run inside the voix workspace, or pass --nats-server): %v\n%s", err, b)
	}
	return out, nil
}

// Run runs the crash test. The error is about the harness (a process that cannot start, a call
// refused for a reason a retry cannot fix, a system that does not settle); what was lost or
// duplicated is in the Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.BinDir == "" || cfg.Dir == "" {
		return Result{}, errors.New("chaos: BinDir and Dir are required")
	}
	for _, b := range []string{"pulse", "feedback", "sentiment"} {
		if _, err := os.Stat(proc.BinPath(cfg.BinDir, b)); err != nil {
			return Result{}, fmt.Errorf("chaos: binary %s: %w (build them with `make build`)", b, err)
		}
	}
	cfg.defaults()
	var err error
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return Result{}, err
	}
	if cfg.NATSServer == "" {
		bin := filepath.Join(cfg.Dir, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			return Result{}, err
		}
		logf(cfg.Log, "building nats-server into %s", bin)
		if cfg.NATSServer, err = BuildNATSServer(ctx, bin); err != nil {
			return Result{}, err
		}
	}
	logf(cfg.Log, "seed %d, %v of load from %d employees, work dir %s", cfg.Seed, cfg.Duration, cfg.Workers, cfg.Dir)

	c, err := newCluster(cfg)
	if err != nil {
		return Result{}, err
	}
	defer c.stop()
	if err := c.start(ctx); err != nil {
		return Result{}, err
	}
	ld, err := newLoad(ctx, c)
	if err != nil {
		return Result{}, err
	}
	defer ld.close()

	// Load and kills for Duration; then the kills stop, everything comes back, and each
	// employee finishes (retries) the call it was making.
	stop := make(chan struct{})
	time.AfterFunc(cfg.Duration, func() { close(stop) })
	var res Result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Kills = c.chaos(ctx, stop, rand.New(rand.NewPCG(cfg.Seed, 1)), cfg.LongOutage)
	}()
	loadErr := ld.run(ctx, stop, cfg.Workers, cfg.Seed)
	wg.Wait()
	if loadErr != nil {
		return res, loadErr
	}
	if err := c.allUp(); err != nil {
		return res, err
	}
	ld.tally(&res)
	logf(cfg.Log, "load over: %d acknowledged, %d retries, %d kills; settling", res.Acked, res.Retries, res.KillCount())

	start := time.Now()
	settleErr := c.settle(ctx, ld, cfg.StallTimeout)
	res.Settle = time.Since(start)
	if settleErr != nil {
		logf(cfg.Log, "%v", settleErr)
	}
	if err := verify(ctx, c, ld, &res); err != nil {
		return res, err
	}
	if settleErr != nil {
		return res, settleErr
	}
	return res, nil
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s chaos: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// defaults fills in what cfg leaves at zero, and makes its log safe for concurrent writers
// (the kill loop and the restarts log at once).
func (cfg *Config) defaults() {
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.LongOutage {
		cfg.Duration = max(cfg.Duration, longOutage+20*time.Second)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.Log = &syncWriter{w: cfg.Log}
}
