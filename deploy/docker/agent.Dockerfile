# syntax=docker/dockerfile:1
# The agent (`probefleet-agent`) and nothing else: the single executable that
# deploy/systemd/build-agent-binary.sh makes (Node and the bundled agent in one file) on a Debian
# base with tini. It runs as root in the host's PID namespace with tracefs mounted (see
# compose.yaml / k8s/agent-daemonset.yaml): the image itself holds no privileges.
# Build from the repository root:  docker build -f deploy/docker/agent.Dockerfile -t probefleet-agent .

FROM node:24-slim AS build
WORKDIR /app
# The manifests alone first: the npm ci layer is rebuilt only when a package.json or the lockfile
# changes, not on every source edit. Every workspace's manifest is needed (test/deploy checks the list).
COPY package.json package-lock.json ./
COPY apps/agent/package.json apps/agent/
COPY apps/aggregator/package.json apps/aggregator/
COPY apps/fleet-sim/package.json apps/fleet-sim/
COPY libs/events/package.json libs/events/
COPY libs/fleet-sim/package.json libs/fleet-sim/
COPY libs/kafka/package.json libs/kafka/
COPY libs/kprobe-model/package.json libs/kprobe-model/
COPY libs/ownership/package.json libs/ownership/
COPY libs/projections/package.json libs/projections/
COPY libs/publish/package.json libs/publish/
COPY libs/signature/package.json libs/signature/
COPY libs/policy/package.json libs/policy/
COPY libs/api-client/package.json libs/api-client/
COPY libs/tracefs/package.json libs/tracefs/
COPY test/package.json test/
RUN npm ci --no-audit --no-fund
COPY . .
RUN bash deploy/systemd/build-agent-binary.sh /out/probefleet-agent

# The same Debian release as node:24-slim (bookworm): the executable needs a glibc at least as new as its build's.
FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="probefleet-agent" \
      org.opencontainers.image.description="probefleet agent: kernel TCP state changes (kprobes or the tracepoint) to Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/probefleet-agent /usr/local/bin/probefleet-agent
# The disk spool: mount a volume (or a hostPath) here so unacked events survive a restart.
VOLUME ["/var/lib/probefleet/spool"]
# tini passes SIGTERM on, so the agent disarms its probes and removes its tracing instances.
ENTRYPOINT ["tini", "--", "probefleet-agent"]
CMD ["run"]
