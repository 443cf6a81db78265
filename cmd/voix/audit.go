package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/cmd/voix/internal/audit"
)

// errAuditFailed is returned when the audit found something: the summary line says what.
var errAuditFailed = errors.New("the audit found leaks (see above)")

func runAudit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin-dir", "bin", "directory holding the pulse, feedback, sentiment and gateway binaries (make build)")
	dir := fs.String("dir", "", "work directory, scanned at the end (default: a new temporary directory, removed after a clean run)")
	seed := fs.Uint64("seed", 1, "seed of the simulated organisation and its week")
	short := fs.Bool("short", false, "four days and less activity, as `make test` runs it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "voix-audit-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := audit.Run(ctx, audit.Config{BinDir: *bin, Dir: work, Seed: *seed, Short: *short, Log: stderr})
	if err != nil {
		return fmt.Errorf("audit (files kept in %s): %w", work, err)
	}
	res.Report(stdout)
	if !res.OK() {
		fmt.Fprintln(stderr, "voix audit: files kept in", work)
		return errAuditFailed
	}
	if *dir == "" {
		return os.RemoveAll(work)
	}
	return nil
}
