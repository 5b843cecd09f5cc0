#!/bin/sh
# The README's walkthrough, run as written: the lines of its sh blocks between the
# "walkthrough" markers, in order, in one shell. Start a server first (README, Walkthrough).
#   sh examples/walkthrough.sh
# Settings, for a server elsewhere (each replaces the README's text where it appears):
#   BASE=http://127.0.0.1:8080 PROXY=http://127.0.0.1:8081  the repository and its build proxy
#   MASTER_PASSWORD=...                                      the master's password
#   DOWNLOAD_URL=https://...                                 what step 3 downloads (the test
#                                                            suite's own origin, with no Internet)
# Needs curl, sha256sum, tar and Node 20 (the client the walkthrough fetches runs on it).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
readme="$here/../README.md"

# The lines go to a file only this user can read (they may hold the master password),
# removed however the run ends.
umask 077
script=$(mktemp)
trap 'rm -f "$script"' EXIT
# Literal replacement, the values read from the environment (awk -v would interpret
# backslashes): a password may hold any character.
BASE=${BASE:-} PROXY=${PROXY:-} MASTER_PASSWORD=${MASTER_PASSWORD:-} DOWNLOAD_URL=${DOWNLOAD_URL:-} awk '
  function swap(line, from, to,   out, i) {
    if (to == "") return line
    out = ""
    while ((i = index(line, from)) > 0) { out = out substr(line, 1, i - 1) to; line = substr(line, i + length(from)) }
    return out line
  }
  /^<!-- walkthrough/ { inside = 1; next }
  /^<!-- \/walkthrough -->/ { inside = 0; next }
  inside && /^```sh$/ { code = 1; next }
  inside && /^```$/ { code = 0; next }
  code {
    base = ENVIRON["BASE"]; proxy = ENVIRON["PROXY"]; password = ENVIRON["MASTER_PASSWORD"]; download = ENVIRON["DOWNLOAD_URL"]
    line = swap($0, "http://127.0.0.1:8080", base)
    line = swap(line, "http://127.0.0.1:8081", proxy)
    line = swap(line, "https://ftp.gnu.org/gnu/hello/hello-2.12.1.tar.gz", download)
    # The password as one shell word, whatever it holds.
    if (password != "") { q = password; gsub(/\047/, "\047\\\047\047", q); line = swap(line, "change-me-walkthrough", "\047" q "\047") }
    print line
  }
' "$readme" > "$script"
[ -s "$script" ] || { echo "walkthrough.sh: no walkthrough found in $readme" >&2; exit 1; }
sh -eu "$script"
