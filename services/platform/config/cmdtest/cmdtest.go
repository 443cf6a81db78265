// Package cmdtest is what the tests of voix's commands (services/*/cmd/*) start from: a data
// dir with token hashes (the secret is left to --create-secret, as on a first deployment), a
// command's run function started in the background with its logs captured, or its binary
// built and run as a process; waits for gRPC health or an HTTP probe, and a check that -h
// lists every flag with its VOIX_ variable and default.
package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
)

// Org is the organisation the tokens are limited to.
const Org = "acme"

// Env is a data dir with token hashes where the services look for them, and no secret yet.
type Env struct {
	DataDir string
	// Tokens holds a bearer token per role, limited to Org.
	Tokens map[auth.Role]string
}

// New makes an Env in t.TempDir().
func New(t testing.TB) *Env {
	t.Helper()
	e := &Env{DataDir: t.TempDir(), Tokens: map[auth.Role]string{}}
	var file auth.TokenFile
	for _, r := range []auth.Role{auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin} {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		e.Tokens[r] = tok
		file.Tokens = append(file.Tokens, auth.TokenRecord{Name: string(r), Role: r, Prefix: Org, SHA256: auth.HashToken(tok)})
	}
	if err := auth.WriteTokens(host.DefaultTokensFile(e.DataDir), file); err != nil {
		t.Fatal(err)
	}
	return e
}

// As returns ctx presenting the token of role.
func (e *Env) As(ctx context.Context, role auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e.Tokens[role])
}

// ServiceArgs are the flags a service needs to start on natsURL in this Env, listening on a
// free port (Addr finds it in the log), creating the secret.
func (e *Env) ServiceArgs(natsURL string) []string {
	return []string{"--listen", "127.0.0.1:0", "--data-dir", e.DataDir, "--nats-url", natsURL, "--create-secret"}
}

// Buffer is a log sink that tests read while a command writes to it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines are the lines whose message (text format) is msg.
func (b *Buffer) Lines(msg string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l+" ", fmt.Sprintf("msg=%q ", msg)) || strings.Contains(l+" ", "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

var addrAttr = regexp.MustCompile(`addr=(\S+)`)

// Addr waits for the line with message msg ("grpc serving", "gateway listening") and returns
// its addr attribute.
func (b *Buffer) Addr(t testing.TB, msg string) string {
	t.Helper()
	var addr string
	poll.Until(t, 30*time.Second, 10*time.Millisecond, func() error {
		for _, l := range b.Lines(msg) {
			if m := addrAttr.FindStringSubmatch(l); m != nil {
				addr = m[1]
				return nil
			}
		}
		return fmt.Errorf("no %q line with addr= yet; log:\n%s", msg, b)
	})
	return addr
}

// RunFunc is a command's run function: it runs until ctx is done, with flags from args and
// getenv, help on stdout and logs on stderr.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Running is a run function running in the background.
type Running struct {
	Stdout, Stderr *Buffer
	cancel         context.CancelFunc
	done           chan error
}

// Start runs run with args and the environment env (nothing else of the process's), in the
// background; it is stopped in t.Cleanup if the test did not.
func Start(t testing.TB, run RunFunc, args []string, env map[string]string) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Stdout: &Buffer{}, Stderr: &Buffer{}, cancel: cancel, done: make(chan error, 1)}
	getenv := func(k string) string { return env[k] }
	go func() { r.done <- run(ctx, args, getenv, r.Stdout, r.Stderr) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// Stop cancels the command's context, as SIGTERM does, and returns what run returned.
func (r *Running) Stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for t.Cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("command did not stop within 30s of its context's end; log:\n%s", r.Stderr)
		return nil
	}
}

// Exited returns run's error if it has returned already, and false if it is still running.
func (r *Running) Exited() (error, bool) {
	select {
	case err := <-r.done:
		r.done <- err
		return err, true
	default:
		return nil, false
	}
}

// WaitServing waits until the gRPC health of service on addr is SERVING.
func WaitServing(t testing.TB, addr, service string) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return err
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return errors.New(resp.Status.String())
		}
		return nil
	})
}

// WaitHTTP waits until GET url gets an HTTP answer below 500 (a 404 too: the server serves),
// and returns its status code.
func WaitHTTP(t testing.TB, url string) int {
	t.Helper()
	var code int
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return errors.New(resp.Status)
		}
		code = resp.StatusCode
		return nil
	})
	return code
}

var (
	flagLine = regexp.MustCompile(`^  --([a-z0-9-]+)`)
	envLine  = regexp.MustCompile(`^        (VOIX_[A-Z0-9_]+), default (.*)$`)
)

// CheckUsage checks a command's help: it lists exactly the flags in want, each with its
// VOIX_ variable (config.EnvName) and a default; defaults, when given, are checked too
// (flag name → default as printed, e.g. `"./data"` or `5`). It also checks the variables
// that are no flag, in env.
func CheckUsage(t testing.TB, help string, want []string, defaults map[string]string, env ...string) {
	t.Helper()
	var listed []string
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name := m[1]
		listed = append(listed, name)
		if i+2 >= len(lines) {
			t.Errorf("--%s: no usage or variable line", name)
			continue
		}
		e := envLine.FindStringSubmatch(lines[i+2])
		if e == nil || e[1] != config.EnvName(name) {
			t.Errorf("--%s: want %q and its default two lines below, got %q", name, config.EnvName(name), lines[i+2])
			continue
		}
		if d, ok := defaults[name]; ok && e[2] != d {
			t.Errorf("--%s: default %s, want %s", name, e[2], d)
		}
	}
	slices.Sort(listed)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(listed, want) {
		t.Errorf("help lists flags %v, want %v", listed, want)
	}
	for _, v := range env {
		if !strings.Contains(help, "\n  "+v+"\n") {
			t.Errorf("help does not list the variable %s", v)
		}
	}
	if t.Failed() {
		t.Logf("help:\n%s", help)
	}
}

// ServiceFlags are the flags config.Service.Register defines, which every service lists.
var ServiceFlags = []string{
	"listen", "data-dir", "tokens-file", "secret-file", "create-secret", "clock-offset", "log-level", "log-format",
	"nats-url", "nats-user", "nats-password", "event-retention", "stream-replicas", "min-group-size", "max-streams",
	"max-streams-per-token", "tls-cert", "tls-key", "tls-client-ca", "nats-creds", "nats-tls-ca", "nats-tls-cert", "nats-tls-key",
	"metrics-listen", "otlp-endpoint", "otlp-insecure",
}

// BaseFlags are the flags config.Service.RegisterBase defines (the gateway).
var BaseFlags = ServiceFlags[:8]

// Build compiles the main package in the test's directory into a temporary directory and
// returns the binary's path. It skips the test under -short.
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cmd")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Process is a binary running as its own process.
type Process struct {
	Stdout, Stderr *Buffer
	cmd            *exec.Cmd
	done           chan struct{}
	err            error
}

// StartProcess runs bin with args and the environment env only (plus PATH and HOME); it is
// killed in t.Cleanup if still running.
func StartProcess(t testing.TB, bin string, args []string, env map[string]string) *Process {
	t.Helper()
	p := &Process{Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Pid is the process's id, for reading /proc/<pid>.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process to exit and returns its exit code.
func (p *Process) Wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("process still running after 30s; stderr:\n%s", p.Stderr)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return -1
}

// Terminate sends SIGTERM, as an orchestrator stopping the process does, and returns its
// exit code.
func (p *Process) Terminate(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return p.Wait(t)
}
