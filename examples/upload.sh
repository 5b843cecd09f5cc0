#!/bin/sh
# Upload a build's artifacts from any CI: mint a token for one build, upload a directory
# with it, revoke it (also when the upload fails). POSIX sh and curl, nothing else.
#
#   ARTIFACT_REPO=https://artifacts.example.org \
#   ARTIFACT_MASTER_PASSWORD_FILE=/run/secrets/artifact-master \
#   sh examples/upload.sh dpkg hello "$BUILD_NUMBER" dist/
#
# Settings (environment):
#   ARTIFACT_REPO                    base URL of the repository (required)
#   ARTIFACT_MASTER_USER             master user (default buildbot)
#   ARTIFACT_MASTER_PASSWORD_FILE    file holding the master password, or
#   ARTIFACT_MASTER_PASSWORD         the password itself (prefer the file)
#   ARTIFACT_TTL                     token lifetime in seconds (default 7200)
#   ARTIFACT_SOURCE_URI, ARTIFACT_REVISION, ARTIFACT_BRANCH
#                                    what the build is built from (its repository, commit,
#                                    branch), e.g. "$CI_PROJECT_URL" "$CI_COMMIT_SHA" "$CI_COMMIT_REF_NAME"
#   ARTIFACT_BUILDER_ID, ARTIFACT_BUILD_URL
#                                    the CI job and this run of it (a link on the build's page)
#   All five are public (the build's page, its signed provenance): never a secret.
# Passwords reach curl on its standard input, never its command line.
#
# To record what the build downloads as well (its inputs), build between the mint and the
# upload, through the build proxy with the same token (docs/inputs.md):
#   ARTIFACT_USER=$token_user ARTIFACT_PASSWORD=$token_password
#   eval "$(artifact-repo proxy-env "$ARTIFACT_REPO")"   # HTTPS_PROXY, CA bundle for each tool
#   make                                                 # every download is recorded
# and, to rebuild offline from a build's recording, mint with "replay": "/TYPE/PROJECT/BUILD/".
set -eu

usage() {
  echo "usage: $0 TYPE PROJECT BUILD DIRECTORY" >&2
  exit 2
}
[ $# -eq 4 ] || usage
type=$1 project=$2 build=$3 dir=$4
: "${ARTIFACT_REPO:?set ARTIFACT_REPO to the repository base URL}"
repo=${ARTIFACT_REPO%/}
master_user=${ARTIFACT_MASTER_USER:-buildbot}
if [ -n "${ARTIFACT_MASTER_PASSWORD_FILE:-}" ]; then
  master_password=$(cat "$ARTIFACT_MASTER_PASSWORD_FILE")
else
  master_password=${ARTIFACT_MASTER_PASSWORD:?set ARTIFACT_MASTER_PASSWORD_FILE or ARTIFACT_MASTER_PASSWORD}
fi
[ -d "$dir" ] || { echo "$0: no such directory: $dir" >&2; exit 2; }

# Writes a curl config line with credentials, for `curl -K -`.
credentials() { printf 'user = "%s:%s"\n' "$1" "$2"; }
# A field of the mint answer; docs/interface.md keeps these values free of quotes and escapes.
field() { printf '%s' "$answer" | sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }

# A JSON string of a value: backslashes and quotes escaped (the server refuses control characters).
json() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
# "name":"value" pairs for the variables that are set, comma-separated.
pairs() {
  out=''
  while [ $# -ge 2 ]; do
    if [ -n "$2" ]; then out="$out${out:+,}\"$1\":$(json "$2")"; fi
    shift 2
  done
  printf '%s' "$out"
}
source=$(pairs uri "${ARTIFACT_SOURCE_URI:-}" revision "${ARTIFACT_REVISION:-}" branch "${ARTIFACT_BRANCH:-}")
builder=$(pairs id "${ARTIFACT_BUILDER_ID:-}" url "${ARTIFACT_BUILD_URL:-}")
meta=''
if [ -n "$source" ]; then meta="$meta,\"source\":{$source}"; fi
if [ -n "$builder" ]; then meta="$meta,\"builder\":{$builder}"; fi

# 1. Mint a token for this build.
answer=$(credentials "$master_user" "$master_password" |
  curl -sS --fail-with-body -K - -H 'Content-Type: application/json' \
    -d "{\"type\":$(json "$type"),\"project\":$(json "$project"),\"build\":$(json "$build"),\"ttl\":${ARTIFACT_TTL:-7200}$meta}" \
    "$repo/-/tokens")
token_id=$(field id)
token_user=$(field username)
token_password=$(field password)
url=$(field url)
[ -n "$token_id" ] && [ -n "$token_password" ] || { echo "$0: unexpected answer from $repo/-/tokens" >&2; exit 1; }
echo "token $token_id for $(field scope)"

# 3. Revoke it on the way out, whatever happens in between.
revoke() {
  status=$?
  if credentials "$master_user" "$master_password" | curl -sS --fail-with-body -K - -X DELETE "$repo/-/tokens/$token_id"; then
    echo "token $token_id revoked"
  else
    echo "$0: could not revoke token $token_id; it expires by itself" >&2
  fi
  exit "$status"
}
trap revoke EXIT
trap 'exit 130' INT TERM

# 2. Upload every file below the directory, keeping relative paths.
list=$(mktemp)
(cd "$dir" && find . -type f | sort) > "$list"
count=0
while IFS= read -r file; do
  rel=${file#./}
  encoded=$(printf '%s' "$rel" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/#/%23/g' -e 's/?/%3F/g')
  credentials "$token_user" "$token_password" |
    curl -sS --fail-with-body --retry 3 -K - -T "$dir/$rel" "$url$encoded"
  count=$((count + 1))
done < "$list"
rm -f "$list"
echo "uploaded $count files to $url"
