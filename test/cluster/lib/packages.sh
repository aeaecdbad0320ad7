# Debian packages the node needs: container runtime, CNI plugins, netfilter
# tools, and busybox for the testbox image. Installed only when missing.

# command -> package that provides it
declare -A NEEDED_PACKAGES=(
  [containerd]=containerd
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [iptables]=iptables
  [conntrack]=conntrack
  [/bin/busybox]=busybox-static
  [openssl]=openssl
  [nsenter]=util-linux
  [ip]=iproute2
)

have() { case "$1" in /*) [ -x "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }

ensure_packages() {
  local missing=() cmd
  for cmd in "${!NEEDED_PACKAGES[@]}"; do
    have "$cmd" || missing+=("${NEEDED_PACKAGES[$cmd]}")
  done
  have kubectl || die "kubectl is not on PATH; install kubectl (1.32 or newer) first"
  have go || die "go is not on PATH; the cluster's binaries are built from Go modules"
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
