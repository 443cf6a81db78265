package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config/cmdtest"
	"github.com/voix-dev/voix/services/platform/natstest"
)

var serviceName = pulsev1.PulseService_ServiceDesc.ServiceName

var flags = append([]string{"schedule-every", "replica", "claim-ttl"}, cmdtest.ServiceFlags...)

var defaults = map[string]string{
	"listen": `"127.0.0.1:7101"`, "data-dir": `"./data"`, "nats-url": `"nats://127.0.0.1:4222"`,
	"min-group-size": "5", "stream-replicas": "1", "max-streams": "1000", "schedule-every": "1s", "claim-ttl": "30s",
	"log-format": `"text"`, "log-level": `"info"`, "event-retention": "720h0m0s",
}

// TestHelp: -h is a success, on stdout, and lists every flag with its VOIX_ variable and
// default, and VOIX_SECRET.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) || command.ExitCode(err, &stderr) != 0 {
		t.Fatalf("run --help = %v, want flag.ErrHelp and exit code 0", err)
	}
	cmdtest.CheckUsage(t, stdout.String(), flags, defaults, "VOIX_SECRET")
}

// TestBinary runs the built command as an operator does: -h exits 0; started on a fresh data
// dir with --create-secret it serves, and SIGTERM stops it with exit code 0.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t)
	p := cmdtest.StartProcess(t, bin, []string{"-h"}, nil)
	if code := p.Wait(t); code != 0 || !strings.Contains(p.Stdout.String(), "VOIX_MIN_GROUP_SIZE") {
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

// TestRunServesAndStops: run serves until its context ends, then returns nil; the secret was
// created, and k comes from the environment.
func TestRunServesAndStops(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, e.ServiceArgs(s.ClientURL()), map[string]string{"VOIX_MIN_GROUP_SIZE": "7"})
	cmdtest.WaitServing(t, r.Stderr.Addr(t, "grpc serving"), serviceName)
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v; log:\n%s", err, r.Stderr)
	}
}

// TestMinGroupSizeReachesPulse: --min-group-size is pulse's k, no longer ignored; a value
// below the floor of a survey's k is refused at start, not accepted and dropped.
func TestMinGroupSizeReachesPulse(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, append(e.ServiceArgs(s.ClientURL()), "--min-group-size", "2"), nil)
	err := r.Stop(t)
	if err == nil || !strings.Contains(err.Error(), "MinGroupSize is 2") {
		t.Fatalf("run with --min-group-size 2 = %v, want pulse to refuse k = 2", err)
	}
	if code := command.ExitCode(err, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

// TestMinGroupSizeIsTheSurveysDefault: --min-group-size is the k of a survey created without
// one (min_group_size 0), not a flag accepted and ignored.
func TestMinGroupSizeIsTheSurveysDefault(t *testing.T) {
	s := natstest.Start(t)
	e := cmdtest.New(t)
	r := cmdtest.Start(t, run, append(e.ServiceArgs(s.ClientURL()), "--min-group-size", "7"), nil)
	addr := r.Stderr.Addr(t, "grpc serving")
	cmdtest.WaitServing(t, addr, serviceName)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(e.As(context.Background(), auth.RoleHR), 10*time.Second)
	defer cancel()
	text := &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}
	resp, err := pulsev1.NewPulseServiceClient(cc).CreateSurvey(ctx, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title:           &commonv1.LocalizedText{Translations: map[string]string{"en": "Weekly pulse"}},
		Audience:        cmdtest.Org,
		Cadence:         pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule:        &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(time.Hour))},
		DefaultLanguage: "en",
		Questions: []*pulsev1.Question{{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE,
			Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Text: text}},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	if k, c := resp.Survey.MinGroupSize, resp.Survey.CommentThreshold; k != 7 || c != 10 {
		t.Fatalf("min_group_size %d, comment_threshold %d; want 7 (the flag) and 10", k, c)
	}
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
