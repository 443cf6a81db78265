package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/bench"
)

// errBenchLost is returned when acknowledged submissions were missing after the run settled.
var errBenchLost = errors.New("acknowledged submissions are missing after settling (see LOST above)")

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long the load lasts, all phases (echo, ingest, responses, mixed day)")
	fs.IntVar(&cfg.Clients, "clients", 64, "concurrent clients")
	fs.IntVar(&cfg.Conns, "conns", 4, "gRPC connections per service shared by the clients (the echo server gets as many)")
	fs.StringVar(&cfg.Target, "target", "", "host of a running 'voix dev' (default ports); empty: start the suite in this process")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "with --target: the suite's data dir (tokens.json; default ./data); without: where the suite keeps its data (default: a temporary dir, removed)")
	fs.StringVar(&cfg.Org, "org", "acme", "organisation the tokens are limited to")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Minute, "how long to wait for the pipeline to drain after the load")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the simulated people (0: random)")
	fs.IntVar(&cfg.ResultsRespondents, "results-respondents", 1000, "people who answer the closed survey GetResults reads, before the load")
	jsonFile := fs.String("json", "", "also write the figures as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (suite in this process included) to this file")
	cpuProfilePhase := fs.String("cpuprofile-phase", "", "with --cpuprofile: profile only this phase ("+strings.Join(bench.Phases, ", ")+")")
	traceFile := fs.String("trace", "", "write a runtime/trace execution trace of the whole run to this file (go tool trace)")
	blockProfile := fs.String("blockprofile", "", "write a block profile (where goroutines waited) and a mutex profile (FILE.mutex) of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && stdout == io.Writer(os.Stdout) {
		cfg.Progress = stdout
	}
	if *cpuProfilePhase != "" && *cpuProfile == "" {
		return errors.New("--cpuprofile-phase needs --cpuprofile FILE")
	}
	if err := bench.CheckPhase(*cpuProfilePhase); err != nil {
		return err // before the profile file is created and the suite started
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		switch {
		case *cpuProfilePhase != "":
			cfg.CPUProfile, cfg.CPUProfilePhase = f, *cpuProfilePhase // bench.Run starts and stops it
		default:
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		runtime.SetMutexProfileFraction(5)
		defer writeProfiles(*blockProfile, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	res.Report(stdout)
	if *jsonFile != "" {
		if werr := res.WriteJSON(*jsonFile); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if res.Lost != 0 {
		return errBenchLost
	}
	return nil
}

// writeProfiles writes the block profile to path and the mutex profile to path+".mutex".
func writeProfiles(path string, stderr io.Writer) {
	for _, p := range []struct{ name, file string }{{"block", path}, {"mutex", path + ".mutex"}} {
		f, err := os.Create(p.file)
		if err == nil {
			err = errors.Join(pprof.Lookup(p.name).WriteTo(f, 0), f.Close())
		}
		if err != nil {
			fmt.Fprintf(stderr, "voix bench: %s profile: %v\n", p.name, err)
		}
	}
}
