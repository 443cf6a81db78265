// Command sentiment runs the sentiment aggregation service alone, against an external NATS.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/tlsconf"
	"github.com/voix-dev/voix/services/sentiment"
)

var command = config.Command{
	Name: "sentiment",
	Summary: "Runs the sentiment aggregation service alone, against an external NATS: scores, rollups,\n" +
		"releases and alerts. It serves from its store while NATS is away.",
	Env: []config.Env{config.SecretEnv},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(command.ExitCode(err, os.Stderr))
}

// run runs the service until ctx is done, then stops it. Flags come from args, then from
// getenv (VOIX_*); logs go to stderr, the help to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(command.Name, flag.ContinueOnError)
	var c config.Service
	c.Register(fs, sentiment.DefaultListen)
	lang := fs.String("language", "en", "organisation language for texts too short to tell: en or fr")
	minConf := fs.Float64("min-confidence", 0, "top-class probability, 0..1, a text needs to count in aggregate scores; below it the item is still scored and published; 0 counts everything")
	partitions := fs.Int("partitions", 1, "run as one of several replicas, each organisation owned by one replica at a time, over this many partitions (the same on every replica; 1: this process applies every organisation)")
	replica := fs.String("replica", "", "this replica's name, unique among the replicas (required with --partitions above 1)")
	advertise := fs.String("advertise", "", "with --partitions: the host:port the other replicas dial to forward reads to this one (default: --listen; required when --listen is every interface, 0.0.0.0 or [::], or this replica is reached through NAT or a container's published port)")
	leaseTTL := fs.Duration("lease-ttl", 0, "with --partitions: how long a dead replica's partitions wait before another takes them (default 10s)")
	peerCA := fs.String("peer-tls-ca", "", "with --partitions and --tls-cert: PEM CA certificates that sign the other replicas' certificates, to forward reads to a partition's owner over TLS (empty: the system's)")
	peerCert := fs.String("peer-tls-cert", "", "PEM client certificate presented to the other replicas (when they demand one: --tls-client-ca)")
	peerKey := fs.String("peer-tls-key", "", "PEM private key of --peer-tls-cert")
	if err := command.Parse(fs, args, getenv, stdout); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return config.UsageError(err)
	}
	if !(*minConf >= 0 && *minConf <= 1) {
		return config.UsageError(fmt.Errorf("--min-confidence: must be in [0, 1], not %v", *minConf))
	}
	if *partitions < 1 {
		return config.UsageError(fmt.Errorf("--partitions: must be at least 1, not %d", *partitions))
	}
	if *partitions > 1 && *replica == "" {
		return config.UsageError(fmt.Errorf("--replica: required with --partitions %d (a name unique among the replicas)", *partitions))
	}
	if *partitions > 1 {
		if _, err := partition.Advertised(c.Listen, *advertise); err != nil {
			return config.UsageError(fmt.Errorf("--advertise: %w", err))
		}
	} else if *advertise != "" {
		return config.UsageError(fmt.Errorf("--advertise: only with --partitions above 1 (a single process registers no address)"))
	}
	if (*peerCert == "") != (*peerKey == "") {
		return config.UsageError(fmt.Errorf("--peer-tls-cert and --peer-tls-key: give both or neither"))
	}
	ops, err := c.Ops()
	if err != nil {
		return config.UsageError(err)
	}
	// Replicas forward reads to each other as they serve: plain gRPC, or TLS.
	var peerTLS *tls.Config
	switch {
	case ops.TLS != nil:
		if peerTLS, err = tlsconf.Client(*peerCA, *peerCert, *peerKey, ""); err != nil {
			return config.UsageError(err)
		}
	case *peerCA != "" || *peerCert != "":
		return config.UsageError(fmt.Errorf("--peer-tls-ca, --peer-tls-cert: need --tls-cert and --tls-key (the replicas serve TLS to each other only when they serve it)"))
	}
	svc, err := sentiment.Start(ctx, sentiment.Config{
		Listen:        c.Listen,
		DataDir:       c.DataDir,
		NATS:          c.Bus(),
		TokensFile:    c.TokensFile,
		Secret:        c.Secret(getenv),
		MinGroupSize:  c.MinGroupSize,
		Language:      *lang,
		MinConfidence: *minConf,
		Partitions:    *partitions,
		Replica:       *replica,
		LeaseTTL:      *leaseTTL,
		Advertise:     *advertise,
		PeerTLS:       peerTLS,
		Log:           c.Logger(stderr),
		Now:           c.Now(),
		MaxStreams:    c.GRPCMaxStreams(),
		Ops:           ops,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
