// Package proc runs voix's binaries as OS processes for the harnesses that need real processes
// (the anonymity audit, the chaos test): start and wait until serving, stop with SIGTERM,
// kill, each with its output appended to a log file.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Proc is one binary run as its own OS process, with its output appended to a log file.
type Proc struct {
	// Name is the process's name in errors.
	Name string
	// Bin is the binary's path; Args and Env (KEY=VALUE, added to this process's
	// environment) are given at every start.
	Bin  string
	Args []string
	Env  []string
	// Addr is the address it listens on; GRPC says whether readiness is a gRPC health check
	// (else a TCP connect).
	Addr string
	GRPC bool
	// Log is the file its output is appended to.
	Log string

	cmd  *exec.Cmd
	done chan error
}

// Start runs the process with extra arguments after Args, and waits until it serves.
func (p *Proc) Start(ctx context.Context, extra ...string) error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.Bin, append(append([]string(nil), p.Args...), extra...)...)
	p.cmd.Env = append(os.Environ(), p.Env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited at start (%v): see %s", p.Name, err, p.Log)
		default:
		}
		if err := p.ready(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving on %s after 60 s: %v (see %s)", p.Name, p.Addr, err, p.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Proc) ready(ctx context.Context) error {
	if !p.GRPC {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	cc, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return errors.New(resp.Status.String())
	}
	return nil
}

// Kill ends the process at once (SIGKILL), as a crash would, and waits for it.
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// Signal sends sig to the running process: SIGSTOP and SIGCONT pause and resume it, as a
// long GC pause or a frozen VM would.
func (p *Proc) Signal(sig os.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Running reports whether the process was started and has not been stopped or killed.
func (p *Proc) Running() bool { return p.cmd != nil }

// Stop asks the process to stop (SIGTERM) and kills it after 15 seconds. A process not running
// is a no-op.
func (p *Proc) Stop() error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.cmd = nil
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return err
		}
		if exit != nil && exit.ExitCode() != 0 {
			return fmt.Errorf("%s exited with %d at stop: see %s", p.Name, exit.ExitCode(), p.Log)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
		return fmt.Errorf("%s did not stop within 15 s of SIGTERM and was killed", p.Name)
	}
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// BinPath is a binary in dir.
func BinPath(dir, name string) string { return filepath.Join(dir, name) }
