#!/usr/bin/env bash
# A local single-node Apache Kafka broker (KRaft, broker+controller in one JVM) from Maven Central jars.
#   kafka.sh fetch | start | stop | status
# Everything it makes (jars, data, logs, pid) lives in $KAFKA_HOME_DIR (default <repo>/.run/kafka).
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT (90 s),
#   KAFKA_LIB_DIR (the jars; default $KAFKA_HOME_DIR/lib: another home's lib shares one download).
# The SASL_SSL test profile (test/e2e/kafka-tls.e2e.spec.ts): KAFKA_SASL_SSL_PORT adds a SASL_SSL
# listener (SCRAM-SHA-512 only) beside the PLAINTEXT one, with KAFKA_TLS_KEYSTORE (PEM: the broker's
# unencrypted PKCS#8 key, then its certificate) and KAFKA_TLS_TRUSTSTORE (PEM: the CA);
# KAFKA_SCRAM_USERS ("name=password ...") are made by Kafka's own StorageTool when the storage is
# formatted (KRaft keeps SCRAM credentials in its metadata log, so no ZooKeeper-era kafka-configs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
home=${KAFKA_HOME_DIR:-$repo/.run/kafka}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
heap=${KAFKA_HEAP:-512m}
timeout=${KAFKA_START_TIMEOUT:-90}
sasl_port=${KAFKA_SASL_SSL_PORT:-}
lib=${KAFKA_LIB_DIR:-$home/lib} data=$home/data logs=$home/logs pidfile=$home/kafka.pid conf=$home/server.properties

say() { echo "[kafka] $*"; }

# One broker per port on this machine: when another checkout's broker serves our port (and no home
# was chosen with KAFKA_HOME_DIR), status, stop and start act on that broker's home, so a restart
# from here (the fault tests do one) brings the same broker back, its data and topics kept. The
# adopted home is remembered in .run/kafka.adopted for a start after the stop.
adopted=
adopt() {
  [ -z "${KAFKA_HOME_DIR:-}" ] && [ ! -f "$pidfile" ] || return 0
  local memo=$repo/.run/kafka.adopted other= p conf
  for p in $(pgrep -f 'kafka\.Kafka .*server\.properties' || true); do
    conf=$(tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | tail -n 1)
    if grep -q "^listeners=PLAINTEXT://127.0.0.1:$port," "$conf" 2>/dev/null; then other=$(dirname "$conf"); break; fi
  done
  if [ -n "$other" ]; then mkdir -p "$repo/.run"; echo "$other" > "$memo"; elif [ -f "$memo" ]; then other=$(cat "$memo"); fi
  [ -n "$other" ] && [ "$other" != "$home" ] && [ -d "$other/lib" ] || return 0
  adopted=$other home=$other
  sasl_port=${KAFKA_SASL_SSL_PORT:-}
lib=${KAFKA_LIB_DIR:-$home/lib} data=$home/data logs=$home/logs pidfile=$home/kafka.pid conf=$home/server.properties
  say "using the broker home of another checkout: $home"
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  # The classpath is cached: the pom's checksum is stored beside the jars, so a changed pom refetches.
  local sum; sum=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  if [ -f "$lib/.pom.sha256" ] && [ "$(cat "$lib/.pom.sha256")" = "$sum" ]; then
    say "jars cached in $lib"; return
  fi
  command -v mvn >/dev/null || { echo "[kafka] Maven (mvn) is required to fetch the broker jars" >&2; exit 1; }
  command -v java >/dev/null || { echo "[kafka] Java 17+ is required to run the broker" >&2; exit 1; }
  say "fetching broker jars from Maven Central (pom: $here/pom.xml)"
  rm -rf "$lib"; mkdir -p "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib"
  echo "$sum" > "$lib/.pom.sha256"
  say "$(find "$lib" -name '*.jar' | wc -l) jars in $lib"
}

write_config() {
  mkdir -p "$data" "$logs"
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [ -z "$sasl_port" ] || { listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port"; protocols="$protocols,SASL_SSL:SASL_SSL"; }
  cat > "$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
CONF
  [ -n "$sasl_port" ] || return 0
  : "${KAFKA_TLS_KEYSTORE:?KAFKA_SASL_SSL_PORT needs KAFKA_TLS_KEYSTORE (PEM key + certificate)}" "${KAFKA_TLS_TRUSTSTORE:?KAFKA_SASL_SSL_PORT needs KAFKA_TLS_TRUSTSTORE (PEM CA)}"
  cat >> "$conf" <<CONF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS_KEYSTORE
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS_TRUSTSTORE
ssl.client.auth=none
CONF
}

# StorageTool arguments for the SCRAM users of KAFKA_SCRAM_USERS ("name=password ...").
scram_args() {
  local u
  for u in ${KAFKA_SCRAM_USERS:-}; do
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=${u%%=*},password=${u#*=}]"
  done
}

# JVM options for every Kafka main class we run: our classpath, a bounded heap, logs in $logs.
jvm=(-XX:+UseG1GC -Djava.awt.headless=true "-Dkafka.logs.dir=$logs"
     "-Dlog4j2.configurationFile=$here/log4j2.properties" -cp "$lib/*")

start() {
  if pid=$(running_pid); then say "already running (pid $pid) on 127.0.0.1:$port"; return; fi
  if port_open "$port"; then
    echo "[kafka] port $port is taken by another process; set KAFKA_PORT" >&2; exit 1
  fi
  # An adopted home keeps its own jars and configuration (its checkout may pin another version).
  if [ -z "$adopted" ]; then rm -f "$repo/.run/kafka.adopted"; fetch; write_config; fi
  if [ ! -f "$data/meta.properties" ]; then
    say "formatting KRaft storage in $data"
    local scram=(); mapfile -t scram < <(scram_args)
    java -Xmx256m "${jvm[@]}" kafka.tools.StorageTool format \
      -t "$(java -Xmx256m "${jvm[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$conf" --ignore-formatted "${scram[@]}" > "$logs/format.log" 2>&1 || { cat "$logs/format.log" >&2; exit 1; }
  fi
  say "starting broker on 127.0.0.1:$port (heap $heap, logs $logs)"
  # A fresh server.log, so the readiness check below cannot read a previous run's "started" line.
  [ -f "$logs/server.log" ] && mv -f "$logs/server.log" "$logs/server.log.1"
  nohup setsid java "-Xms$heap" "-Xmx$heap" "${jvm[@]}" kafka.Kafka "$conf" > "$logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local waited=0
  until grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null && port_open "$port"; do
    if ! running_pid >/dev/null; then
      echo "[kafka] broker exited during start-up; last lines of $logs:" >&2
      tail -n 30 "$logs/stdout.log" "$logs/server.log" >&2 2>/dev/null || true; rm -f "$pidfile"; exit 1
    fi
    if [ "$waited" -ge "$timeout" ]; then
      echo "[kafka] broker did not answer within ${timeout}s; see $logs/server.log" >&2; stop; exit 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  say "ready on 127.0.0.1:$port after ${waited}s"
}

stop() {
  local pid
  if ! pid=$(running_pid); then say "not running"; rm -f "$pidfile"; return; fi
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then say "broker still up after 30s: killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  say "stopped"
}

status() {
  if pid=$(running_pid); then say "running (pid $pid) on 127.0.0.1:$port"; else say "not running"; return 1; fi
}

case "${1:-}" in start|stop|status) adopt ;; esac
case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
