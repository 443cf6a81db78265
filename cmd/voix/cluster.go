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
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/cluster"
)

// errClusterFailed is returned when the cluster test lost or duplicated something or found a
// stream not at R3: the findings and the summary line say what.
var errClusterFailed = errors.New("the cluster test lost or duplicated acknowledged items or found streams not at R3 (see above)")

func runE2ECluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix e2e-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin-dir", "bin", "directory holding the pulse, feedback and sentiment binaries (make build)")
	natsServer := fs.String("nats-server", "", "nats-server binary (default: built from the nats-server module cmd/voix requires, into the work directory)")
	dir := fs.String("dir", "", "work directory (default: a new temporary directory, removed after a clean run)")
	duration := fs.Duration("duration", 40*time.Second, "how long the load lasts (it must cover the NATS kill and the service kill)")
	workers := fs.Int("workers", 16, "simulated employees acting at once")
	seed := fs.Uint64("seed", 0, "seed of the load's actions (0: random)")
	service := fs.String("kill-service", "feedback", "the service killed and restarted after the NATS node: pulse, feedback or sentiment")
	onlyPartitions := fs.Bool("only-partitions", false, "run the partition phase alone on the three-node cluster (no load, no NATS kill)")
	skipPartitions := fs.Bool("skip-partitions", false, "skip the partition phase (two sentiment replicas with --partitions, one SIGKILLed and restarted)")
	onlyWrites := fs.Bool("only-writes", false, "run the write phase alone on the three-node cluster (two feedback and two pulse replicas sharing their marks)")
	skipWrites := fs.Bool("skip-writes", false, "skip the write phase (two feedback and two pulse replicas, each person's submissions sent to both)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "voix-e2e-cluster-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := cluster.Run(ctx, cluster.Config{
		BinDir: *bin, NATSServer: *natsServer, Dir: work, Duration: *duration,
		Workers: *workers, Seed: *seed, Service: *service, Log: stderr, SkipPartitions: *skipPartitions, OnlyPartitions: *onlyPartitions,
		SkipWrites: *skipWrites, OnlyWrites: *onlyWrites,
	})
	res.Report(stdout)
	if err != nil {
		return fmt.Errorf("e2e-cluster (files kept in %s): %w", work, err)
	}
	if !res.OK() {
		fmt.Fprintln(stderr, "voix e2e-cluster: files kept in", work)
		return errClusterFailed
	}
	if *dir == "" {
		return os.RemoveAll(work)
	}
	return nil
}
