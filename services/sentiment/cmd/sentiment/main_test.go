package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/config/cmdtest"
	"github.com/voix-dev/voix/services/platform/natstest"
)

var serviceName = sentimentv1.SentimentService_ServiceDesc.ServiceName

var flags = append([]string{"language", "min-confidence", "partitions", "replica", "advertise", "lease-ttl", "peer-tls-ca", "peer-tls-cert", "peer-tls-key"}, cmdtest.ServiceFlags...)

var defaults = map[string]string{
	"listen": `"127.0.0.1:7103"`, "data-dir": `"./data"`, "nats-url": `"nats://127.0.0.1:4222"`,
	"min-group-size": "5", "stream-replicas": "1", "max-streams": "1000", "language": `"en"`,
	"log-format": `"text"`, "log-level": `"info"`, "event-retention": "720h0m0s", "min-confidence": "0",
	"partitions": "1",
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
}

// TestBadMinConfidenceExits2: --min-confidence outside [0, 1] is a usage error, from the
// command line or the environment.
func TestBadMinConfidenceExits2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
	}{{[]string{"--min-confidence", "1.5"}, ""}, {[]string{"--min-confidence", "-0.1"}, ""}, {nil, "NaN"}} {
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == "VOIX_MIN_CONFIDENCE" {
				return tc.env
			}
			return ""
		}
		err := run(context.Background(), tc.args, getenv, &stdout, &stderr)
		if code := command.ExitCode(err, &stderr); code != 2 || !strings.Contains(err.Error(), "min-confidence") {
			t.Errorf("%v VOIX_MIN_CONFIDENCE=%q: exit code %d (%v), want 2 naming min-confidence", tc.args, tc.env, code, err)
		}
	}
}

// TestBinary runs the built command as an operator does: -h exits 0; started on a fresh data
// dir with --create-secret it serves, and SIGTERM stops it with exit code 0.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t)
	p := cmdtest.StartProcess(t, bin, []string{"-h"}, nil)
	if code := p.Wait(t); code != 0 || !strings.Contains(p.Stdout.String(), "VOIX_LANGUAGE") {
		t.Fatalf("-h: exit %d, stdout %q; want 0 and the flags", code, p.Stdout)
	}

	s := natstest.Start(t)
	e := cmdtest.New(t)
	p = cmdtest.StartProcess(t, bin, e.ServiceArgs(s.ClientURL()), nil)
	cmdtest.WaitServing(t, p.Stderr.Addr(t, "grpc serving"), serviceName)
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; stderr:\n%s", code, p.Stderr)
	}
}

// TestRunServesAndStops: run serves until its context ends, then returns nil.
func TestRunServesAndStops(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, append(e.ServiceArgs(s.ClientURL()), "--language", "fr"), nil)
	cmdtest.WaitServing(t, r.Stderr.Addr(t, "grpc serving"), serviceName)
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v; log:\n%s", err, r.Stderr)
	}
}

func TestBadPartitionsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{{[]string{"--partitions", "0"}, "partitions"}, {[]string{"--partitions", "4"}, "replica"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, func(string) string { return "" }, &stdout, &stderr)
		if code := command.ExitCode(err, &stderr); code != 2 || !strings.Contains(err.Error(), "--"+tc.flag) {
			t.Errorf("%v: exit code %d (%v), want 2 naming --%s", tc.args, code, err, tc.flag)
		}
	}
}

// TestWildcardListenNeedsAdvertise: a replica listening on every interface cannot tell the
// others where to dial it: without --advertise it refuses to start (exit 2), naming the flag
// and why; an --advertise that is no dialable host:port is refused too, and --advertise
// without --partitions is a mistake.
func TestWildcardListenNeedsAdvertise(t *testing.T) {
	replica := []string{"--partitions", "4", "--replica", "r1"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{append([]string{"--listen", "0.0.0.0:7103"}, replica...), []string{"--advertise", "0.0.0.0:7103", "every interface", "cannot dial"}},
		{append([]string{"--listen", "[::]:7103"}, replica...), []string{"--advertise", "[::]:7103", "every interface"}},
		{append([]string{"--listen", ":7103"}, replica...), []string{"--advertise", "every interface"}},
		{append([]string{"--listen", "0.0.0.0:7103", "--advertise", "0.0.0.0:7103"}, replica...), []string{"--advertise", "wildcard"}},
		{append([]string{"--listen", "0.0.0.0:7103", "--advertise", "10.0.0.5"}, replica...), []string{"--advertise", "host:port"}},
		{append([]string{"--listen", "0.0.0.0:7103", "--advertise", "10.0.0.5:0"}, replica...), []string{"--advertise", "port"}},
		{[]string{"--listen", "0.0.0.0:7103", "--advertise", "10.0.0.5:7103"}, []string{"--advertise", "--partitions"}},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, func(string) string { return "" }, &stdout, &stderr)
		code := command.ExitCode(err, &stderr)
		if code != 2 {
			t.Errorf("%v: exit code %d (%v), want 2", tc.args, code, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q does not say %q", tc.args, err, w)
			}
		}
	}
}
