package config_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/voix-dev/voix/services/platform/config"
)

func newCommand() (config.Command, *flag.FlagSet, *config.Service) {
	cmd := config.Command{Name: "pulse", Summary: "Runs pulse.", Env: []config.Env{config.SecretEnv}}
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	var c config.Service
	c.Register(fs, "127.0.0.1:7101")
	return cmd, fs, &c
}

// TestUsageListsEveryFlag: -h lists every flag with its VOIX_ variable and its default, and
// the variables that are no flag.
func TestUsageListsEveryFlag(t *testing.T) {
	cmd, fs, _ := newCommand()
	var out bytes.Buffer
	cmd.Usage(&out, fs)
	help := out.String()
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		def := f.DefValue
		if typ, _ := flag.UnquoteUsage(f); typ == "string" {
			def = fmt.Sprintf("%q", def)
		}
		want := "  --" + f.Name
		i := strings.Index(help, want)
		if i < 0 {
			t.Errorf("usage does not list --%s:\n%s", f.Name, help)
			return
		}
		entry := help[i:]
		if j := strings.Index(entry[len(want):], "\n  --"); j >= 0 {
			entry = entry[:len(want)+j]
		}
		if line := config.EnvName(f.Name) + ", default " + def; !strings.Contains(entry, line) {
			t.Errorf("usage of --%s lacks %q:\n%s", f.Name, line, entry)
		}
	})
	if n < 14 {
		t.Fatalf("only %d flags registered", n)
	}
	for _, want := range []string{"usage: pulse [flags]", "Runs pulse.", "VOIX_SECRET", `VOIX_LISTEN, default "127.0.0.1:7101"`, "VOIX_MIN_GROUP_SIZE, default 5", "VOIX_STREAM_REPLICAS, default 1", `VOIX_LOG_FORMAT, default "text"`} {
		if !strings.Contains(help, want) {
			t.Errorf("usage lacks %q:\n%s", want, help)
		}
	}
}

func TestParseHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		cmd, fs, _ := newCommand()
		var out bytes.Buffer
		err := cmd.Parse(fs, []string{arg}, noEnv, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: Parse = %v, want flag.ErrHelp", arg, err)
		}
		if !strings.Contains(out.String(), "--nats-url") {
			t.Fatalf("%s: help on stdout = %q", arg, out.String())
		}
		var stderr bytes.Buffer
		if code := cmd.ExitCode(err, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("%s: exit code %d with %q, want 0 and nothing on stderr", arg, code, stderr.String())
		}
	}
}

func TestParseErrorsAreUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown flag":   {[]string{"--nope"}, nil, "flag provided but not defined: -nope"},
		"bad value":      {[]string{"--min-group-size", "many"}, nil, "-min-group-size"},
		"argument":       {[]string{"serve"}, nil, `unexpected argument "serve"`},
		"bad env":        {nil, map[string]string{"VOIX_STREAM_REPLICAS": "three"}, "VOIX_STREAM_REPLICAS"},
		"env fills flag": {nil, map[string]string{"VOIX_LOG_FORMAT": "json"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			cmd, fs, c := newCommand()
			var out bytes.Buffer
			err := cmd.Parse(fs, tc.args, func(k string) string { return tc.env[k] }, &out)
			if out.Len() != 0 {
				t.Errorf("Parse wrote %q to stdout", out.String())
			}
			if tc.want == "" {
				if err != nil || c.LogFormat != "json" {
					t.Fatalf("Parse = %v, LogFormat %q; want nil and json", err, c.LogFormat)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
			var stderr bytes.Buffer
			if code := cmd.ExitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "pulse: ") || !strings.Contains(stderr.String(), "pulse -h") {
				t.Fatalf("exit code %d with %q, want 2, the error and a hint to -h", code, stderr.String())
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	cmd := config.Command{Name: "feedback"}
	for _, tc := range []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{config.UsageError(errors.New("--listen: bad")), 2, "feedback: --listen: bad\n"},
		{errors.New("open store: locked"), 1, "feedback: open store: locked\n"},
	} {
		var stderr bytes.Buffer
		if code := cmd.ExitCode(tc.err, &stderr); code != tc.code || !strings.HasPrefix(stderr.String(), tc.stderr) || (tc.stderr == "" && stderr.Len() > 0) {
			t.Errorf("ExitCode(%v) = %d, %q; want %d, %q", tc.err, code, stderr.String(), tc.code, tc.stderr)
		}
	}
	if config.UsageError(nil) != nil {
		t.Error("UsageError(nil) is not nil")
	}
}

func noEnv(string) string { return "" }
