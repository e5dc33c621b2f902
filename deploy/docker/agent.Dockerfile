# syntax=docker/dockerfile:1
# The agent (`probefleet-agent`). It runs as root in the host's PID namespace with tracefs mounted
# (see compose.yaml / k8s/agent-daemonset.yaml): the image itself holds no privileges.
# Build from the repository root:  docker build -f deploy/docker/agent.Dockerfile -t probefleet-agent .

FROM node:20-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund
RUN npm run build --workspace @probefleet/agent
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps/agent/package.json ./apps/agent/package.json
COPY --from=build /app/apps/agent/bin ./apps/agent/bin
COPY --from=build /app/apps/agent/dist ./apps/agent/dist
RUN ln -s /app/apps/agent/bin/probefleet-agent.js /usr/local/bin/probefleet-agent
# The disk spool: mount a volume (or a hostPath) here so unacked events survive a restart.
VOLUME ["/var/lib/probefleet/spool"]
# tini passes SIGTERM on, so the agent disarms its probes and removes its tracing instances.
ENTRYPOINT ["tini", "--", "probefleet-agent"]
CMD ["run"]
