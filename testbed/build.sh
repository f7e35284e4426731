#!/usr/bin/env bash
# Builds the local control plane from pinned Go modules into a stamped cache directory outside git.
#
#   testbed/build.sh            build what is missing, then print the directory that holds bin/ and crds/
#   testbed/build.sh --print    print that directory without building (exit 1 when it is not complete)
#
# The directory is ${MODELFLEET_TESTBED_CACHE:-~/.cache/modelfleet-testbed}/<stamp>, where <stamp> hashes
# every wrapper go.mod/go.sum and this script, so a warm run returns at once and any pin change rebuilds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_VERSION=v1.36.4
K8S_MINOR=36
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4
GATEWAY_API_VERSION=v1.6.1
# The module proxy refuses sigs.k8s.io/lws@v0.10.0 ("not available"); v0.9.0 serves the same v1 CRDs.
LWS_VERSION=v0.9.0
# v2.21.1 needs Go 1.27.4; v2.21.0 is the newest that builds with Go 1.26.
KEDA_VERSION=v2.21.0

stamp=$(cd "$here" && cat build.sh k8s/go.mod k8s/go.sum etcd/go.mod etcd/go.sum kwok/go.mod kwok/go.sum \
        helm/go.mod helm/go.sum lws/go.mod lws/go.sum keda/go.mod keda/go.sum | sha256sum | cut -c1-16)
root="${MODELFLEET_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelfleet-testbed}/$stamp"
bin="$root/bin"

if [[ "${1:-}" == "--print" ]]; then
  [[ -f "$root/.complete" ]] || exit 1
  echo "$root"; exit 0
fi
# Each check captures the whole output before matching: `cmd | grep -q` under pipefail fails at random,
# because grep exits at the first match and the writer dies of SIGPIPE (exit 141).
check_version() {  # check_version <what> <expected substring> <command...>
  local what=$1 want=$2 out
  shift 2
  out=$("$@" 2>&1) || { echo "testbed: $what failed to report its version: $out" >&2; exit 1; }
  [[ "$out" == *"$want"* ]] || { echo "testbed: $what reports '$out', want '$want'" >&2; exit 1; }
}
check_versions() {
  check_version kube-apiserver "Kubernetes $K8S_VERSION" "$bin/kube-apiserver" --version
  check_version etcd "etcd Version: 3.6" "$bin/etcd" --version
  check_version helm "$HELM_VERSION" "$bin/helm" version --short
  check_version "the LeaderWorkerSet controller" "Version: $LWS_VERSION" "$bin/lws-controller" --version
  # KEDA's binaries print their version only once connected to a cluster; the build info Go embeds in
  # every binary (what `go version -m` prints) names the module and its version as plain text.
  local keda_module keda_pattern='github.com/kedacore/keda/v2[[:space:]]v[0-9][0-9A-Za-z.+-]*'
  keda_module=$(printf 'github.com/kedacore/keda/v2\t%s' "$KEDA_VERSION")
  check_version "the KEDA operator" "$keda_module" grep -a -o -m1 "$keda_pattern" "$bin/keda-operator"
  check_version "the KEDA metrics API server" "$keda_module" grep -a -o -m1 "$keda_pattern" "$bin/keda-adapter"
}

# A warm cache still checks the version strings (a second or two), so CI runs the cold path's checks.
if [[ -f "$root/.complete" ]]; then check_versions; echo "$root"; exit 0; fi

command -v go >/dev/null || { echo "testbed: go is not on PATH (Go >= 1.26 is needed)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-modcacherw CGO_ENABLED=0
mkdir -p "$bin" "$root/crds/gateway-api" "$root/crds/lws" "$root/crds/keda" "$root/kwok-stages"
log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Module directory in the module cache, fetched with the ordinary client (no git clone, no release download).
moddir() {
  (cd "$(mktemp -d)" && go mod download -json "$1" | python3 -c '
import json, sys
info = json.load(sys.stdin)
if "Dir" not in info:
    sys.exit("testbed: cannot download %s: %s" % (sys.argv[1], info.get("Error", "no module directory")))
print(info["Dir"])' "$1")
}

if [[ ! -x "$bin/etcd" ]]; then
  log "building etcd"
  (cd "$here/etcd" && go build -p 2 -trimpath -ldflags="-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
fi

if [[ ! -x "$bin/kube-apiserver" || ! -x "$bin/kube-controller-manager" || ! -x "$bin/kube-scheduler" ]]; then
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION (the long step)"
  # Without these -X flags /version reports v0.0.0-master and Helm's kubeVersion checks fail.
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$here/k8s" && go build -p 2 -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ld" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler)
fi

if [[ ! -x "$bin/kwok" ]]; then
  log "building kwok $KWOK_VERSION"
  (cd "$here/kwok" && go build -p 2 -trimpath \
      -ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}" \
      -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
fi

if [[ ! -x "$bin/helm" ]]; then
  log "building helm $HELM_VERSION"
  # Without the k8sVersion flags `helm template` assumes Kubernetes 1.20.
  (cd "$here/helm" && go build -p 2 -trimpath -ldflags="-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR" \
      -o "$bin/helm" helm.sh/helm/v3/cmd/helm)
fi

if [[ ! -x "$bin/lws-controller" ]]; then
  log "building the LeaderWorkerSet controller $LWS_VERSION"
  (cd "$here/lws" && go build -p 2 -trimpath \
      -ldflags="-s -w -X sigs.k8s.io/lws/pkg/version.GitVersion=$LWS_VERSION" \
      -o "$bin/lws-controller" sigs.k8s.io/lws/cmd)
fi

if [[ ! -x "$bin/keda-operator" || ! -x "$bin/keda-adapter" ]]; then
  log "building the KEDA operator and metrics API server $KEDA_VERSION"
  keda_ld="-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
  (cd "$here/keda" && go build -p 2 -trimpath -ldflags="$keda_ld" -o "$bin/keda-operator" \
      github.com/kedacore/keda/v2/cmd/operator)
  (cd "$here/keda" && go build -p 2 -trimpath -ldflags="$keda_ld" -o "$bin/keda-adapter" \
      github.com/kedacore/keda/v2/cmd/adapter)
fi

log "collecting CRDs and kwok stages from the module cache"
gw=$(moddir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
cp "$gw"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$root/crds/gateway-api/"
lws=$(moddir "sigs.k8s.io/lws@$LWS_VERSION")
cp "$lws"/config/crd/bases/*.yaml "$root/crds/lws/"
keda=$(moddir "github.com/kedacore/keda/v2@$KEDA_VERSION")
cp "$keda"/config/crd/bases/*.yaml "$root/crds/keda/"
kw=$(moddir "sigs.k8s.io/kwok@$KWOK_VERSION")
for s in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  if [[ -f "$kw/kustomize/stage/$s" ]]; then cp "$kw/kustomize/stage/$s" "$root/kwok-stages/"; fi
done
chmod -R u+w "$root"

log "checking version strings"
check_versions
touch "$root/.complete"
echo "$root"
