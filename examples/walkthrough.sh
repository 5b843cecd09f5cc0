#!/bin/sh
# The whole data path with curl: mint a token for one build, upload, download, list,
# revoke, check the signed seal. Usage:
#   MASTER_PASSWORD=... [BASE=http://127.0.0.1:8080] [MASTER_USER=buildbot] sh examples/walkthrough.sh
# Needs curl, python3 (only to read the JSON answer) and ssh-keygen (openssh-client) for step 6.
set -eu

BASE=${BASE:-http://127.0.0.1:8080}
MASTER_USER=${MASTER_USER:-buildbot}
: "${MASTER_PASSWORD:?set MASTER_PASSWORD to the master password}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The build master mints a token for dpkg/hello/42. The master password goes to curl
#    on stdin (a config line), never on its command line.
printf 'user = "%s:%s"\n' "$MASTER_USER" "$MASTER_PASSWORD" |
  curl -sS --fail-with-body -K - -H 'Content-Type: application/json' \
    -d '{"type":"dpkg","project":"hello","build":"42","ttl":3600}' \
    "$BASE/-/tokens" > "$work/token.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/token.json" "$1"; }
TOKEN_ID=$(field id)
TOKEN_USER=$(field username)
TOKEN_PASSWORD=$(field password)
URL=$(field url)
echo "minted token $TOKEN_ID for $(field scope), expires $(field expires_at)"

# 2. The build uploads: a file, and one into a sub-directory that does not exist yet.
echo "hello, world" > "$work/hello_1.0_amd64.deb"
echo "built by the walkthrough" > "$work/README.txt"
creds() { printf 'user = "%s:%s"\n' "$TOKEN_USER" "$TOKEN_PASSWORD"; }
creds | curl -sS --fail-with-body -K - -T "$work/hello_1.0_amd64.deb" "${URL}hello_1.0_amd64.deb"
creds | curl -sS --fail-with-body -K - -T "$work/README.txt" "${URL}docs/README.txt"
echo "uploaded two files"

# 3. Anyone downloads, no credentials.
curl -sS --fail-with-body "${URL}docs/README.txt"

# 4. Anyone lists a build, as JSON (or HTML in a browser).
curl -sS --fail-with-body -H 'Accept: application/json' "$URL"
echo

# 5. The build revokes its own token; from now on it opens nothing.
creds | curl -sS --fail-with-body -K - -X DELETE "$BASE/-/tokens/$TOKEN_ID"
status=$(creds | curl -sS -o /dev/null -w '%{http_code}' -K - -T "$work/README.txt" "${URL}late.txt")
echo "revoked; a later upload answers $status"
[ "$status" = 401 ]

# 6. The build is sealed, and its checksum list signed by the repository: OpenSSH checks
#    the signature against the repository's keys (pin them once in real use: this fetches
#    them each time), then sha256sum checks the files against the list.
if command -v ssh-keygen >/dev/null 2>&1; then
  curl -sS --fail-with-body "$BASE/-/signing-keys" > "$work/allowed_signers"
  curl -sS --fail-with-body "${URL}SHA256SUMS" > "$work/SHA256SUMS"
  curl -sS --fail-with-body "${URL}SHA256SUMS.sig" > "$work/SHA256SUMS.sig"
  ssh-keygen -Y verify -f "$work/allowed_signers" -I artifact-repo -n artifact-repo -s "$work/SHA256SUMS.sig" < "$work/SHA256SUMS"
fi
