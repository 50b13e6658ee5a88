#!/usr/bin/env bash
# The one list of what `npm test` needs on a Debian machine besides Node.js and npm. The README's
# prerequisites line points here, and .ci/run installs from it, so they cannot drift apart.
#
#   tools/prerequisites.sh             say what is missing; exit 1 if anything is
#   tools/prerequisites.sh --install   apt-get install what is missing (as root), then check again
#   tools/prerequisites.sh --packages  print the Debian package names, one line
set -euo pipefail

# Debian package | a command it installs | what needs it
REQUIRED=(
  'redis-server|redis-server|every suite: testkit starts local Redis servers'
  'redis-tools|redis-cli|testkit: Redis Cluster and Sentinel topologies'
  'procps|pkill|testkit: pausing PostgreSQL backends; the Jest exit bound lists leftovers with ps'
  'chromium|chromium|chat-realtime: the chat page in a headless browser'
  'prometheus|promtool|deploy-checks: promtool check rules / test rules; e2e: npm start -- --observe'
  'iproute2|ip|inventory-lock: network namespaces and veth pairs for the partition suite'
  'curl|curl|e2e: runs every curl example of the READMEs'
  'jq|jq|e2e: README examples that read one field of a JSON answer'
  'kubectl|kubectl|deploy-checks: kubectl kustomize renders k8s/ (kubectl >= 1.27: Debian 12 has none, it comes from pkgs.k8s.io)'
)

# Field $2 (1: package, 2: command, 3: purpose) of entry $1; builtins only, so this runs on any PATH.
field() {
  local package command purpose
  IFS='|' read -r package command purpose <<<"$1"
  case "$2" in 1) printf '%s' "$package" ;; 2) printf '%s' "$command" ;; 3) printf '%s' "$purpose" ;; esac
}

missing_packages() {
  local entry
  for entry in "${REQUIRED[@]}"; do
    command -v "$(field "$entry" 2)" >/dev/null 2>&1 || printf '%s\n' "$(field "$entry" 1)"
  done
}

report() {
  local entry status=0
  for entry in "${REQUIRED[@]}"; do
    if ! command -v "$(field "$entry" 2)" >/dev/null 2>&1; then
      echo "missing: $(field "$entry" 2) (Debian package $(field "$entry" 1)), for $(field "$entry" 3)" >&2
      status=1
    fi
  done
  if ((status)); then
    echo "install them: sudo tools/prerequisites.sh --install" >&2
  fi
  return "$status"
}

# A package this machine's apt sources do not carry (Debian 12 has no kubectl newer than 1.20,
# whose kustomize cannot render k8s/): say where it comes from instead of failing in apt-get.
not_in_archive_hint() {
  case "$1" in
    kubectl) echo "kubectl is not in this machine's Debian archive: install kubectl >= 1.27 from the Kubernetes apt repository (pkgs.k8s.io), see https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/" ;;
    *) echo "$1 is not in this machine's apt sources" ;;
  esac
}

install_missing() {
  local wanted=() installable=() unavailable=() package
  mapfile -t wanted < <(missing_packages)
  ((${#wanted[@]})) || return 0
  if ((EUID != 0)); then
    echo "prerequisites: installing ${wanted[*]} needs root (sudo $0 --install)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  for package in "${wanted[@]}"; do
    if [[ -n "$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]]; then
      installable+=("$package")
    else
      unavailable+=("$package")
    fi
  done
  if ((${#installable[@]})); then
    echo "prerequisites: apt-get install ${installable[*]}"
    apt-get install -y -qq --no-install-recommends "${installable[@]}" >/dev/null
  fi
  for package in "${unavailable[@]}"; do
    echo "prerequisites: $(not_in_archive_hint "$package")" >&2
  done
}

case "${1:-}" in
  --packages)
    for entry in "${REQUIRED[@]}"; do printf '%s ' "$(field "$entry" 1)"; done
    echo
    ;;
  --install)
    install_missing
    report
    ;;
  '')
    report
    ;;
  *)
    echo "usage: $0 [--install | --packages]" >&2
    exit 2
    ;;
esac
