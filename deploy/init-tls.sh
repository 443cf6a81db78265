#!/bin/sh
# init-tls.sh [DIR] [NAME...]: make a private CA and the certificates a voix deployment uses
# for TLS, in DIR (default secrets/tls beside this script):
#
#   ca.pem                  the CA certificate: every process trusts it (--tls-client-ca,
#                           --service-tls-ca, --nats-tls-ca, the NATS tls and cluster blocks)
#   ca-key.pem              the CA key: keep it offline once the certificates are made
#   server.pem, server-key.pem
#                           the servers' certificate (gRPC services, NATS clients and routes),
#                           for every NAME plus localhost and 127.0.0.1; usable as a client
#                           certificate too (NATS routes dial each other with it)
#   client.pem, client-key.pem
#                           the client certificate the services and the gateway present
#                           (--service-tls-cert, --nats-tls-cert) to servers that demand one
#
# NAME defaults to the compose and Kubernetes names: pulse feedback sentiment gateway nats
# nats-1 nats-2 nats-3 and their *.voix.svc forms. Certificates are valid for 825 days;
# rerun with another DIR to rotate, then restart the processes. Needs openssl.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/secrets/tls}
[ $# -gt 0 ] && shift
names=${*:-pulse feedback sentiment gateway nats nats-1 nats-2 nats-3}

if [ -e "$dir/ca.pem" ]; then
	echo "init-tls: $dir already holds ca.pem: not replacing it" >&2
	exit 1
fi
umask 077
mkdir -p "$dir"
cd "$dir"

san="DNS:localhost,IP:127.0.0.1"
for n in $names; do
	san="$san,DNS:$n,DNS:$n.voix.svc,DNS:$n.voix.svc.cluster.local,DNS:*.$n-headless.voix.svc.cluster.local"
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj "/CN=voix deployment CA" -keyout ca-key.pem -out ca.pem \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name cn eku san
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' "$3" >"$1.ext"
	[ -n "$4" ] && printf 'subjectAltName=%s\n' "$4" >>"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
issue server "voix server" "serverAuth,clientAuth" "$san"
issue client "voix client" "clientAuth" ""
rm -f ca.srl
# The certificates are public; the keys are read by the containers' user (65532 in the voix
# image): chown them to it, or to the user that runs the processes (see deploy/README.md).
chmod 0644 ca.pem server.pem client.pem
chmod 0600 ca-key.pem server-key.pem client-key.pem
echo "init-tls: wrote ca.pem, server.pem, client.pem and their keys in $dir"
