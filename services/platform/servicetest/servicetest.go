// Package servicetest is what every service's tests start from, in the spirit of
// net/http/httptest: a real embedded NATS server with JetStream, a data dir in t.TempDir(),
// bearer tokens for every role written as hashes where the services look for them, and gRPC
// clients that present them.
package servicetest

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
)

// Org is the organisation every Env's tokens (but the global admin's) are limited to.
const Org = "acme"

// OtherOrg is a second tenant, for tests that check one organisation cannot see another.
const OtherOrg = "globex"

// Env is a test environment shared by the services of one test.
type Env struct {
	NATS    *server.Server
	DataDir string
	// Tokens holds a bearer token per role, each limited to Org except the admin's (global).
	Tokens map[auth.Role]string
	// OtherHR is an hr token limited to OtherOrg.
	OtherHR string
	// Manager of a subtree: a manager token limited to Org + "/eng".
	SubtreeManager string
}

// New starts NATS and writes the tokens. Everything stops in t.Cleanup.
func New(t testing.TB) *Env {
	t.Helper()
	e := &Env{
		NATS:    natstest.Start(t),
		DataDir: t.TempDir(),
		Tokens:  map[auth.Role]string{},
	}
	var file auth.TokenFile
	add := func(role auth.Role, prefix string) string {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatalf("servicetest: new token: %v", err)
		}
		file.Tokens = append(file.Tokens, auth.TokenRecord{
			Name: string(role) + "@" + prefix, Role: role, Prefix: prefix, SHA256: auth.HashToken(tok),
		})
		return tok
	}
	for _, r := range []auth.Role{auth.RoleSubmitter, auth.RoleManager, auth.RoleHR} {
		e.Tokens[r] = add(r, Org)
	}
	e.Tokens[auth.RoleAdmin] = add(auth.RoleAdmin, "")
	e.OtherHR = add(auth.RoleHR, OtherOrg)
	e.SubtreeManager = add(auth.RoleManager, Org+"/eng")
	if err := auth.WriteTokens(host.DefaultTokensFile(e.DataDir), file); err != nil {
		t.Fatalf("servicetest: write tokens: %v", err)
	}
	// Services never make a secret of their own: the deployment's is there before they start.
	if _, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(e.DataDir)); err != nil {
		t.Fatalf("servicetest: create secret: %v", err)
	}
	return e
}

// NATSConfig is how services in this Env reach NATS.
func (e *Env) NATSConfig() bus.Config { return bus.Config{URL: e.NATS.ClientURL()} }

// Dial connects to a service's gRPC address; the connection closes in t.Cleanup.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("servicetest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// WithToken returns ctx carrying "authorization: Bearer <token>".
func WithToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// As returns a context presenting the Env's token for role.
func (e *Env) As(ctx context.Context, role auth.Role) context.Context {
	return WithToken(ctx, e.Tokens[role])
}
