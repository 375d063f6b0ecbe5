#!/bin/sh
# Container HEALTHCHECK: GET /healthz on the address the service listens on (FACEFUSE_LISTEN, the
# image's default 0.0.0.0:8080). A wildcard host is asked on loopback. Exit 0 healthy, 1 not.
listen=${FACEFUSE_LISTEN:-0.0.0.0:8080}
port=${listen##*:}
host=${listen%:*}
case "$host" in
  "" | 0.0.0.0 | "[::]" | "$listen") host=127.0.0.1 ;;
esac
curl -fsS -o /dev/null --max-time 2 "http://${host}:${port}/healthz" || exit 1
