package audit

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

// proc is one service binary run as its own OS process, with its output appended to a log
// file under the audit directory (which the byte scan reads too).
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	addr string // the address it listens on
	grpc bool   // whether readiness is a gRPC health check (else a TCP connect)
	log  string
	cmd  *exec.Cmd
	done chan error
}

// start runs the process and waits until it serves.
func (p *proc) start(ctx context.Context, extra ...string) error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, append(append([]string(nil), p.args...), extra...)...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited at start (%v): see %s", p.name, err, p.log)
		default:
		}
		if err := p.ready(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving on %s after 60 s: %v (see %s)", p.name, p.addr, err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) ready(ctx context.Context) error {
	if !p.grpc {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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

// stop asks the process to stop (SIGTERM) and kills it after 15 seconds.
func (p *proc) stop() error {
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
			return fmt.Errorf("%s exited with %d at stop: see %s", p.name, exit.ExitCode(), p.log)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
		return fmt.Errorf("%s did not stop within 15 s of SIGTERM and was killed", p.name)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// binPath is a service binary in dir.
func binPath(dir, name string) string { return filepath.Join(dir, name) }
