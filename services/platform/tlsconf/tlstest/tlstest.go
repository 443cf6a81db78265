// Package tlstest makes certificates for tests: a CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate, written as PEM files in a test's temporary directory.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are the PEM files of one test PKI.
type Files struct {
	Dir                   string
	CA                    string // the CA's certificate: trust it on both sides
	ServerCert, ServerKey string // for 127.0.0.1, ::1 and localhost; also a client certificate
	ClientCert, ClientKey string // a client certificate signed by the CA
	// OtherCA signs OtherClientCert and OtherServerCert: certificates the servers must refuse.
	OtherCA                         string
	OtherClientCert, OtherClientKey string
	OtherServerCert, OtherServerKey string
}

// New writes a CA, a server and a client certificate under t.TempDir(), valid for a day.
func New(t testing.TB) Files {
	t.Helper()
	dir := t.TempDir()
	f := Files{Dir: dir}
	ca, caKey := newCA(t, "voix test CA")
	f.CA = writeCert(t, dir, "ca.pem", ca)
	f.ServerCert, f.ServerKey = issue(t, dir, "server", ca, caKey, true)
	f.ClientCert, f.ClientKey = issue(t, dir, "client", ca, caKey, false)
	other, otherKey := newCA(t, "another CA")
	f.OtherCA = writeCert(t, dir, "other-ca.pem", other)
	f.OtherClientCert, f.OtherClientKey = issue(t, dir, "other-client", other, otherKey, false)
	f.OtherServerCert, f.OtherServerKey = issue(t, dir, "other-server", other, otherKey, true)
	return f
}

func template(cn string) *x509.Certificate {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}

func newCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := template(cn)
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := template("voix " + name)
	tpl.KeyUsage = x509.KeyUsageDigitalSignature
	if server {
		// Client auth too: NATS routes present the server certificate when they dial (as
		// deploy/init-tls.sh makes it).
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tpl.DNSNames = []string{"localhost"}
		tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	} else {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return writeCert(t, dir, name+".pem", cert), keyFile
}

func writeCert(t testing.TB, dir, name string, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
