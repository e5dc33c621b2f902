# syntax=docker/dockerfile:1
# The aggregator (`probefleet`): build the workspace, keep production dependencies only.
# Build from the repository root:  docker build -f deploy/docker/aggregator.Dockerfile -t probefleet-aggregator .
# The repository layout is kept under /app: `probefleet migrate` finds prisma/migrations relative to
# its own dist/, and the workspace libraries stay linked from node_modules/@probefleet.

FROM node:24-slim AS build
WORKDIR /app
# openssl: Prisma's client looks for libssl at runtime; ca-certificates: npm over TLS.
RUN apt-get update && apt-get install -y --no-install-recommends openssl ca-certificates && rm -rf /var/lib/apt/lists/*
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
# `build` generates the Prisma client and compiles the app with the libraries it references (tsc -b).
RUN npm run build --workspace @probefleet/aggregator
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="probefleet-aggregator" \
      org.opencontainers.image.description="probefleet aggregator: Kafka consumer group to PostgreSQL, query API, replay" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update && apt-get install -y --no-install-recommends openssl tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps/aggregator/package.json ./apps/aggregator/package.json
COPY --from=build /app/apps/aggregator/bin ./apps/aggregator/bin
COPY --from=build /app/apps/aggregator/dist ./apps/aggregator/dist
RUN ln -s /app/apps/aggregator/bin/probefleet.js /usr/local/bin/probefleet
USER node
EXPOSE 8080
# tini forwards SIGTERM to node, so `serve` commits its batch and leaves the consumer group cleanly.
ENTRYPOINT ["tini", "--", "probefleet"]
CMD ["serve"]
