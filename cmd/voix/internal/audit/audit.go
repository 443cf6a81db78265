// Package audit runs voix the way its users do and then tries to break its anonymity, so
// that a leak of a whole class fails a build rather than a company.
//
// A run builds a small organisation whose ground truth the harness knows (who is in which
// team, who said what, which follow-up code is whose), starts every service as its own OS
// process with its own data dir against one NATS server, and replays days of activity through
// every entry point: gRPC as an internal app, the chat gateway with signed Slack requests
// (malformed subcommands and mistyped teams included), survey waves, follow-ups, upvotes,
// replies and status changes. Then it attacks what it produced:
//
//   - Byte scan: every file written (stores, JetStream's files, logs, the directory) is read
//     for the chat user ids, submitter refs and follow-up codes, raw and in hex, base64 and
//     UTF-16; every comment HR can read is checked for a follow-up code; HR must read exactly
//     the comments people meant to file.
//   - Differencing: as hr and as a manager, every number the read APIs show, with every
//     filter they take, is recorded as the set of contributions behind it (package attack),
//     and any set of 1..k-1 people that adding and subtracting them isolates is reported with
//     the queries; comments are placed, and a comment shown where fewer than the comment
//     threshold could have written it is reported too.
//   - Linkage: two comments of one person on two days, a comment and a survey answer, two
//     waves of one person: their records in every store and every event must share no bytes
//     that unrelated items do not share, and events carry days, not instants.
//
// It ends with one line, "audit: hits=N reconstructions=M files=F queries=Q".
//
// What it does not model: bounds a reader could infer from means and ranges (only sums are
// combined), combinations across families of numbers (survey results with sentiment
// aggregates), loop statistics, and anything done with the secret itself (see the README's
// privacy section).
package audit

import (
	"context"
	"fmt"
	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config configures a run.
type Config struct {
	// BinDir holds the pulse, feedback, sentiment and gateway binaries. Required.
	BinDir string
	// Dir is where the run writes everything (data dirs, NATS, logs); it is scanned. Required;
	// it should be empty.
	Dir string
	// Seed makes the run reproducible. Default 1.
	Seed uint64
	// Short runs four days with less activity, for `make test`.
	Short bool
	// Log receives progress lines. Default: discarded.
	Log io.Writer
}

// Result is what a run found.
type Result struct {
	// Hits are values found where they must not be, comments that must not exist, and
	// linkage between one person's items.
	Hits []string
	// Reconstructions are the groups of fewer than k people a reader could isolate, each with
	// the queries that do it.
	Reconstructions []string
	// Notes are things the harness could not check (a shown number it cannot explain).
	// Each is a failure too: an audit that cannot explain what it read proves nothing.
	Notes []string
	// Files is how many files the byte scan read.
	Files int
	// Queries is how many read calls the attack made.
	Queries int
	// Observations, Placements count what the attack weighed.
	Observations, Placements int
}

// OK reports whether the run found nothing.
func (r Result) OK() bool {
	return len(r.Hits) == 0 && len(r.Reconstructions) == 0 && len(r.Notes) == 0
}

// Line is the run's summary line.
func (r Result) Line() string {
	return fmt.Sprintf("audit: hits=%d reconstructions=%d files=%d queries=%d", len(r.Hits)+len(r.Notes), len(r.Reconstructions), r.Files, r.Queries)
}

// Report writes every finding, then the summary line.
func (r Result) Report(w io.Writer) {
	for _, h := range r.Hits {
		fmt.Fprintln(w, "hit:", h)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "unexplained:", n)
	}
	for _, rc := range r.Reconstructions {
		fmt.Fprintln(w, "reconstruction:", rc)
	}
	fmt.Fprintf(w, "audit: weighed %d shown numbers and %d comment placements\n", r.Observations, r.Placements)
	fmt.Fprintln(w, r.Line())
}

// Run runs the audit.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.BinDir == "" || cfg.Dir == "" {
		return Result{}, fmt.Errorf("audit: BinDir and Dir are required")
	}
	for _, b := range []string{"pulse", "feedback", "sentiment", "gateway"} {
		if _, err := os.Stat(proc.BinPath(cfg.BinDir, b)); err != nil {
			return Result{}, fmt.Errorf("audit: binary %s: %w (build them with `make build`)", b, err)
		}
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return Result{}, err
	}
	cfg.Dir = dir
	r, err := newRun(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	if err := r.play(ctx); err != nil {
		return r.res, err
	}
	if err := r.attack(); err != nil {
		return r.res, err
	}
	if err := r.stopAll(); err != nil {
		return r.res, err
	}
	if err := r.linkage(ctx); err != nil {
		return r.res, err
	}
	r.natsStop()
	if err := r.scan(); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// logf writes a progress line.
func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s %s\n", time.Now().Format("15:04:05"), strings.TrimSpace(fmt.Sprintf(format, args...)))
}
