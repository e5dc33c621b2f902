#!/usr/bin/env bash
# The local infrastructure: Apache Kafka (from Maven Central jars) and a PostgreSQL check.
#   stack.sh up | down | status
# KAFKA_BROKERS set (an existing cluster): the local broker is left alone and only checked.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/probefleet}

step() { echo; echo "==> $*"; }

case "${1:-}" in
  up)
    if [ -z "${KAFKA_BROKERS:-}" ]; then
      step "Kafka: local single-node KRaft broker"
      "$here/kafka/kafka.sh" start
    fi
    step "Kafka: metadata and topic"
    node "$here/kafka/ensure-topic.cjs"
    step "PostgreSQL: ${DATABASE_URL%%\?*}"
    node "$here/postgres/ensure-db.cjs"
    step "stack is up"
    ;;
  down)
    step "Kafka: stopping the local broker"
    "$here/kafka/kafka.sh" stop
    step "stack is down (PostgreSQL is a system service and keeps running)"
    ;;
  status)
    "$here/kafka/kafka.sh" status || true
    node "$here/postgres/ensure-db.cjs"
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
