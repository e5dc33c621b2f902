#!/usr/bin/env bash
# Installs probefleet-agent as a systemd service on this host (run as root):
#   deploy/systemd/install.sh [EXECUTABLE]
# EXECUTABLE: the agent as one file (a Node single executable, see deploy/README.md) or any
# `probefleet-agent` command; default: the one on PATH. An existing /etc/probefleet/agent.yaml or
# agent.env is kept. `probefleet-agent doctor` shows what the host supports before the service starts.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=/usr/local/bin/probefleet-agent
etc=/etc/probefleet

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
src=${1:-$(command -v probefleet-agent || true)}
[ -n "$src" ] && [ -x "$src" ] || { echo "install.sh: no probefleet-agent executable given or on PATH" >&2; exit 1; }

if [ "$(readlink -f "$src")" != "$(readlink -f "$bin" 2>/dev/null || true)" ]; then
  install -m 0755 "$src" "$bin"
fi
install -d -m 0755 "$etc"
[ -e "$etc/agent.yaml" ] || install -m 0644 "$here/agent.yaml" "$etc/agent.yaml"
[ -e "$etc/agent.env" ] || install -m 0600 "$here/agent.env.example" "$etc/agent.env"
install -m 0644 "$here/probefleet-agent.service" /etc/systemd/system/probefleet-agent.service

# tracefs, kprobe_events, BTF, the tracepoint: which mode `run` will take here, and why.
"$bin" doctor --config "$etc/agent.yaml"

systemctl daemon-reload
systemctl enable --now probefleet-agent.service
systemctl --no-pager --lines=5 status probefleet-agent.service || true
echo "installed; edit $etc/agent.yaml (kafka.brokers) and run: systemctl restart probefleet-agent"
