# syntax=docker/dockerfile:1
# compose.yaml's dev profile: a TCP forwarder that holds a port published on the host's loopback
# (Compose cannot publish a service's port for one profile only). socat from Alpine's packages.
FROM alpine:3.20
LABEL org.opencontainers.image.title="probefleet-dev-forward" \
      org.opencontainers.image.description="TCP forwarder for probefleet's compose dev profile" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apk add --no-cache socat
USER nobody
ENTRYPOINT ["socat"]
