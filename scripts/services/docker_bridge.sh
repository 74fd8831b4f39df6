#!/usr/bin/env bash
# Prints the address of this host on Docker's default bridge network and the
# network itself, "GATEWAY SUBNET" (e.g. "172.17.0.1 172.17.0.0/16"): what a
# container reaches as host.docker.internal (--add-host host-gateway). Used by
# redis.sh and postgres.sh --docker-bridge, so that shims in containers reach
# servers that run on the host.
#
#   scripts/services/docker_bridge.sh
#
# Asks dockerd (`docker network inspect bridge`), else reads the docker0
# interface; exits 1 saying why when there is no bridge. The address must be
# one of this host's (the servers bind it).
set -euo pipefail

die() { echo "docker_bridge.sh: $*" >&2; exit 1; }
(($# == 0)) || die "usage: $0"

out=""
if command -v docker >/dev/null 2>&1; then
  out=$(timeout 10 docker network inspect bridge \
    -f '{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{"\n"}}{{end}}' 2>/dev/null |
    grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ [0-9./]+$' | head -n 1) || out=""
fi
if [[ -z $out ]]; then
  cidr=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4; exit}') || cidr=""
  [[ -n $cidr ]] || die "no docker bridge: 'docker network inspect bridge' gives no IPv4 gateway and there is no docker0 interface (scripts/services/docker.sh start)"
  out=$(python3 -c 'import ipaddress, sys; i = ipaddress.ip_interface(sys.argv[1]); print(i.ip, i.network)' "$cidr")
fi
gw=${out%% *}
[[ -n $(ip -4 -o addr show to "$gw" 2>/dev/null) ]] ||
  die "the docker bridge's gateway $gw is not an address of this host (is dockerd's bridge up?)"
echo "$out"
