#!/bin/sh
# init-secrets.sh [DIR] [ORG]: make what a new voix deployment needs and voix does not make:
#
#   DIR/secret.key         the deployment's anonymity secret: 32 random bytes (mode 0600)
#   DIR/auth/token-hashes.json
#                          the token file every service and the gateway load (--tokens-file)
#                          and reload within a second when it changes: names, roles,
#                          prefixes and SHA-256 hashes, never a token. Its directory is
#                          mounted, not the file, so that `voix token create|revoke
#                          --data-dir DIR` (which replace it atomically) reach running services
#   DIR/tokens.env         the plain bearer tokens, once (mode 0600): give each to its holder,
#                          then delete the file. Lost tokens are replaced, not recovered.
#
# DIR defaults to the secrets/ folder beside this script, ORG (the first element of the
# organisation's segments) to acme. Tokens: the gateway's (submitter, limited to ORG), one for
# HR of ORG and one global admin. Add more with `voix token create --data-dir DIR`.
#
# It never replaces an existing secret.key: a new secret makes every stored tag stop matching.
# Needs only a POSIX shell, head, base64, tr and sha256sum (or shasum).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/secrets}
org=${2:-acme}

case $org in
'' | [-_]* | */* | *[!a-z0-9_-]*)
	echo "init-secrets: organisation must be one segment element (a-z, 0-9, then also - and _), got '$org'" >&2
	exit 2
	;;
esac
if [ -e "$dir/secret.key" ] || [ -e "$dir/auth/token-hashes.json" ]; then
	echo "init-secrets: $dir already holds secret.key or token-hashes.json: not replacing them" >&2
	exit 1
fi

umask 077
mkdir -p "$dir/auth"
# The containers' user must list the mounted directory: it holds only hashes.
chmod 0755 "$dir/auth"

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum | cut -d' ' -f1
	else
		shasum -a 256 | cut -d' ' -f1
	fi
}

token() {
	printf 'voix_%s' "$(head -c 32 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_')"
}

head -c 32 /dev/urandom >"$dir/secret.key.tmp"
mv "$dir/secret.key.tmp" "$dir/secret.key"

gateway=$(token)
hr=$(token)
admin=$(token)
hash() { printf '%s' "$1" | sha256; }

cat >"$dir/auth/token-hashes.json" <<EOF
{
  "tokens": [
    {"name": "gateway", "role": "submitter", "prefix": "$org", "sha256": "$(hash "$gateway")"},
    {"name": "hr-$org", "role": "hr", "prefix": "$org", "sha256": "$(hash "$hr")"},
    {"name": "admin", "role": "admin", "prefix": "", "sha256": "$(hash "$admin")"}
  ]
}
EOF
# The hashes reveal nothing (tokens carry 256 random bits): readable by the containers' user.
chmod 0644 "$dir/auth/token-hashes.json"

cat >"$dir/tokens.env" <<EOF
# Plain bearer tokens, shown once. Give each to its holder, then delete this file.
VOIX_GATEWAY_TOKEN=$gateway
VOIX_HR_TOKEN=$hr
VOIX_ADMIN_TOKEN=$admin
EOF

echo "init-secrets: wrote $dir/secret.key, $dir/auth/token-hashes.json and $dir/tokens.env"
