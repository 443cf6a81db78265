package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config/cmdtest"
	"github.com/voix-dev/voix/services/platform/poll"
)

var flags = append([]string{"feedback-addr", "pulse-addr", "sentiment-addr", "min-group-size", "directory-file", "workspace",
	"service-tls-ca", "service-tls-cert", "service-tls-key", "service-tls-server-name"}, cmdtest.BaseFlags...)

var defaults = map[string]string{
	"listen": `"127.0.0.1:7180"`, "data-dir": `"./data"`, "feedback-addr": `"127.0.0.1:7102"`,
	"pulse-addr": `"127.0.0.1:7101"`, "sentiment-addr": `"127.0.0.1:7103"`, "min-group-size": "5", "log-format": `"text"`, "log-level": `"info"`, "workspace": `""`,
}

// TestHelp: -h is a success, on stdout, and lists every flag with its VOIX_ variable and
// default, and the variables that are no flag (the secrets).
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) || command.ExitCode(err, &stderr) != 0 {
		t.Fatalf("run -h = %v, want flag.ErrHelp and exit code 0", err)
	}
	cmdtest.CheckUsage(t, stdout.String(), flags, defaults, envSigningSecret, envToken, envWorkspaces, envDashboardKey, "VOIX_SECRET")
}

func env(e *cmdtest.Env) map[string]string {
	return map[string]string{envSigningSecret: "signing-secret", envToken: e.Tokens[auth.RoleSubmitter]}
}

func args(e *cmdtest.Env) []string {
	return []string{"--listen", "127.0.0.1:0", "--data-dir", e.DataDir, "--create-secret"}
}

// TestBinary runs the built command as an operator does: -h exits 0; without its secrets it
// exits 2 and says which; started with them it serves, and SIGTERM stops it with exit code 0.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t)
	p := cmdtest.StartProcess(t, bin, []string{"-h"}, nil)
	if code := p.Wait(t); code != 0 || !strings.Contains(p.Stdout.String(), envSigningSecret) {
		t.Fatalf("-h: exit %d, stdout %q; want 0 and the flags", code, p.Stdout)
	}

	e := cmdtest.New(t)
	p = cmdtest.StartProcess(t, bin, args(e), nil)
	if code := p.Wait(t); code != 2 || !strings.Contains(p.Stderr.String(), envSigningSecret) {
		t.Fatalf("without secrets: exit %d, stderr %q; want 2 naming %s", code, p.Stderr, envSigningSecret)
	}

	p = cmdtest.StartProcess(t, bin, args(e), env(e))
	cmdtest.WaitHTTP(t, "http://"+p.Stderr.Addr(t, "gateway listening")+"/healthz")
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; stderr:\n%s", code, p.Stderr)
	}
}

// TestRunServesAndStops: run serves until its context ends, then returns nil; its log lines,
// in the format the environment asks for, name the gateway once.
func TestRunServesAndStops(t *testing.T) {
	e := cmdtest.New(t)
	vars := env(e)
	vars["VOIX_LOG_FORMAT"] = "json"
	r := cmdtest.Start(t, run, args(e), vars)
	var addr string
	poll.Until(t, 30*time.Second, 10*time.Millisecond, func() error {
		for _, l := range strings.Split(r.Stderr.String(), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "gateway listening" {
				addr, _ = line["addr"].(string)
				return nil
			}
		}
		if err, exited := r.Exited(); exited {
			t.Fatalf("exited at start: %v", err)
		}
		return fmt.Errorf("no gateway listening line yet:\n%s", r.Stderr)
	})
	cmdtest.WaitHTTP(t, "http://"+addr+"/healthz")
	if err := r.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.Stderr.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if line["service"] != "gateway" || strings.Count(l, `"service":`) != 1 {
			t.Errorf("line %q: want \"service\":\"gateway\" once", l)
		}
	}
}

// TestMissingSecretsExit2: without its secrets the gateway does not start, and says which.
func TestMissingSecretsExit2(t *testing.T) {
	e := cmdtest.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args(e), func(k string) string { return map[string]string{envToken: "x"}[k] }, &stdout, &stderr)
	if code := command.ExitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), envSigningSecret) {
		t.Fatalf("exit code %d, stderr %q; want 2 naming %s", code, stderr.String(), envSigningSecret)
	}
}
