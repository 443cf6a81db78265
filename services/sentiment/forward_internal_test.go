package sentiment

import (
	"testing"

	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/voix-dev/voix/services/platform/partition"
)

// TestForwarderKeepsOneConnectionPerOwnerAddress: the connection to an owner is reused while
// its address stays, closed and replaced when the lease names another address, and every one
// is closed with the forwarder.
func TestForwarderKeepsOneConnectionPerOwnerAddress(t *testing.T) {
	f := &forwarder{creds: insecure.NewCredentials(), conns: map[string]*peerConn{}}
	at := func(addr string) partition.Lease { return partition.Lease{Replica: "r2", Address: addr} }
	first, err := f.conn(at("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.conn(at("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("a second read of the same owner at the same address dialled again")
	}
	other, err := f.conn(partition.Lease{Replica: "r3", Address: "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := f.conn(at("127.0.0.1:2"))
	if err != nil {
		t.Fatal(err)
	}
	if moved == first {
		t.Error("the owner's new address reuses the connection to its old one")
	}
	if s := first.GetState(); s != connectivity.Shutdown {
		t.Errorf("the connection to the owner's old address is %v, want closed", s)
	}
	if s := other.GetState(); s == connectivity.Shutdown {
		t.Error("another owner's connection was closed")
	}
	f.close()
	for _, cc := range []interface{ GetState() connectivity.State }{moved, other} {
		if s := cc.GetState(); s != connectivity.Shutdown {
			t.Errorf("a connection is %v after the forwarder closed, want closed", s)
		}
	}
	if _, err := f.conn(at("127.0.0.1:2")); err == nil {
		t.Error("a closed forwarder dialled")
	}
}

// TestForwarderRefusesPlainToTLSPeers: a replica serving TLS without client TLS settings does
// not dial its peers in plain text.
func TestForwarderRefusesPlainToTLSPeers(t *testing.T) {
	f := &forwarder{conns: map[string]*peerConn{}} // creds nil: Ops.TLS set, PeerTLS unset
	if _, err := f.conn(partition.Lease{Replica: "r2", Address: "127.0.0.1:1"}); err == nil {
		t.Error("dialled a TLS peer without client TLS settings")
	}
}
