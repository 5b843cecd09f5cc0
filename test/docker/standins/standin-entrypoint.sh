#!/bin/sh
# Entrypoint of the nginx stand-in (nginx.Dockerfile): renders the templates the way the
# official image documents it, then runs the command.
#   NGINX_ENVSUBST_TEMPLATE_DIR     /etc/nginx/templates
#   NGINX_ENVSUBST_TEMPLATE_SUFFIX  .template
#   NGINX_ENVSUBST_OUTPUT_DIR       /etc/nginx/conf.d
#   NGINX_ENVSUBST_FILTER           a regular expression: only variables whose names match
#                                   are substituted (all defined ones when unset)
set -eu

render_templates() {
  dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
  suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
  out=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
  [ -d "$dir" ] || return 0
  # The names of the defined variables that pass the filter, as envsubst's SHELL-FORMAT.
  names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -- "${NGINX_ENVSUBST_FILTER:-.*}" || true)
  format=''
  for name in $names; do format="$format \${$name}"; done
  find "$dir" -type f -name "*$suffix" | while read -r template; do
    relative=${template#"$dir"/}
    target="$out/${relative%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    echo "$0: rendering $template to $target" >&2
    envsubst "$format" < "$template" > "$target"
  done
}

if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
  render_templates
  echo "$0: configuration complete; ready for start up" >&2
fi
exec "$@"
