#!/bin/sh
# How the app is started, in the container and by `npm start` alike.
#   --expose-gc and MALLOC_MMAP_THRESHOLD_: keep multi-GiB transfers within a few MiB
#   (docs/design.md, "Memory").
# With arguments it runs them instead, so that `docker compose run --rm app artifact-repo
# master list` runs the command rather than a second server.
set -eu
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
APP_DIR=${APP_DIR:-$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)}
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"
exec node --expose-gc --enable-source-maps "$APP_DIR/dist/server/main.js"
