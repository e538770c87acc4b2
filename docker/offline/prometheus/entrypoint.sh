#!/bin/sh
# Debian 12's Prometheus is 2.42: it lacks v3's --web.enable-otlp-receiver (RustFS's OTLP
# metrics), the one flag of docker-compose.yml it does not know. Drop it, run the rest as given.
for arg do
    shift
    [ "$arg" = "--web.enable-otlp-receiver" ] && continue
    set -- "$@" "$arg"
done
exec /usr/bin/prometheus "$@"
