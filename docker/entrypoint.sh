#!/bin/sh
# Entry point of the synood images: the first argument names what to run.
#   api | captioner | synthesizer | encoder | trainer [args…]   a service (services/<name>/dist/main.js)
#   synood [args…]                                               the CLI, e.g. `synood models pull`
#   anything else                                                run as a command (debugging)
# `exec` makes node PID 1's direct replacement, so SIGTERM reaches the service's graceful shutdown.
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: <api|captioner|synthesizer|encoder|trainer|synood> [args...]" >&2
  exit 64
fi

service="$1"
case "$service" in
  api | captioner | synthesizer | encoder | trainer)
    shift
    for file in main.js server.js; do
      if [ -f "/app/services/$service/dist/$file" ]; then
        exec node "/app/services/$service/dist/$file" "$@"
      fi
    done
    echo "synood image: /app/services/$service/dist/main.js is missing; was the image built from a complete tree?" >&2
    exit 70
    ;;
  synood)
    shift
    exec node /app/services/cli/bin/synood.js "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
