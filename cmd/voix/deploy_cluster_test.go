package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

// errorLog keeps what a server logs (debug and trace aside), for assertions and failures.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) Noticef(format string, v ...any) { l.Errorf("NOTE "+format, v...) }
func (l *errorLog) Warnf(format string, v ...any)   { l.Errorf("WARN "+format, v...) }
func (l *errorLog) Fatalf(format string, v ...any)  { l.Errorf("FATAL "+format, v...) }
func (l *errorLog) Debugf(string, ...any)           {}
func (l *errorLog) Tracef(string, ...any)           {}
func (l *errorLog) Errorf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// peers are the names of the servers s has routes to (routes are pooled: several
// connections per peer).
func peers(t *testing.T, s *server.Server) []string {
	t.Helper()
	rz, err := s.Routez(&server.RoutezOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rz.Routes {
		if !slices.Contains(names, r.RemoteName) {
			names = append(names, r.RemoteName)
		}
	}
	slices.Sort(names)
	return names
}

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDeployNode starts deploy/nats/nats-<i>.conf on loopback, its cluster on clusterPort
// and its routes to routes; the TLS files come from NATS_TLS_*.
// A name other than "" replaces the file's server_name.
func startDeployNode(t *testing.T, i, clusterPort int, routes string, log *errorLog, name string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats", fmt.Sprintf("nats-%d.conf", i)))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", clusterPort
	opts.Routes = server.RoutesFromStr(routes)
	opts.StoreDir = t.TempDir()
	opts.NoSigs = true
	if name != "" {
		opts.ServerName = name
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if log != nil {
		s.SetLoggerV2(log, false, false, false)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-%d not ready; errors:\n%v", i, log)
	}
	return s
}

// TestDeployNATSClusterOverTLS forms the three-node cluster of deploy/nats/ on loopback: the
// routes run over mutual TLS with the deployment's certificates, JetStream elects a leader
// and keeps a three-replica stream, and a node whose certificate another CA signed is refused
// as a route.
func TestDeployNATSClusterOverTLS(t *testing.T) {
	for k, v := range map[string]string{
		"VOIX_NATS_SERVICES_PASSWORD": "svc-pass", "VOIX_NATS_PORTAL_ACME_PASSWORD": "p1",
		"VOIX_NATS_PORTAL_GLOBEX_PASSWORD": "p2", "VOIX_NATS_SYS_PASSWORD": "p3", "VOIX_NATS_CX_PASSWORD": "p4",
	} {
		t.Setenv(k, v)
	}
	pki := tlstest.New(t)
	t.Setenv("NATS_TLS_CERT", pki.ServerCert)
	t.Setenv("NATS_TLS_KEY", pki.ServerKey)
	t.Setenv("NATS_TLS_CA", pki.CA)

	first := &errorLog{}
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	route := strings.Join(routes, ",")
	var nodes []*server.Server
	for i, p := range ports {
		log := (*errorLog)(nil)
		if i == 0 {
			log = first
		}
		nodes = append(nodes, startDeployNode(t, i+1, p, route, log, ""))
	}
	n1 := nodes[0]
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() error {
		for i, s := range nodes {
			if p := peers(t, s); len(p) != 2 {
				return fmt.Errorf("nats-%d has routes to %v, want the two other nodes", i+1, p)
			}
		}
		return nil
	})

	nc, err := nats.Connect(n1.ClientURL(), nats.UserInfo("services", "svc-pass"), nats.RootCAs(pki.CA))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3, Storage: jetstream.FileStorage})
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, "r3.x", []byte("x")); err != nil {
		t.Fatalf("publish to the R3 stream: %v", err)
	}

	// An intruder with a certificate of another CA.
	t.Setenv("NATS_TLS_CERT", pki.OtherServerCert)
	t.Setenv("NATS_TLS_KEY", pki.OtherServerKey)
	t.Setenv("NATS_TLS_CA", pki.OtherCA)
	intruder := startDeployNode(t, 3, freePort(t), routes[0], nil, "intruder")
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(first.String(), "TLS route handshake error") {
			return fmt.Errorf("nats-1 logged no TLS route handshake error yet:\n%s", first)
		}
		return nil
	})
	if p := peers(t, intruder); len(p) != 0 {
		t.Fatalf("the intruder has routes to %v, want none", p)
	}
	if p := peers(t, n1); !slices.Equal(p, []string{"nats-2", "nats-3"}) {
		t.Fatalf("nats-1 has routes to %v after the intruder tried, want [nats-2 nats-3]", p)
	}
}
