#!/usr/bin/env bash
# Builds the three images from their real Containerfiles on a machine with no Docker engine and
# no public registry (CI's): each Containerfile's base is overridden by a local Debian bookworm
# image that mmdebstrap builds from Debian's packages and podman imports, with the toolchain a
# stage needs copied in from this machine (Python from Debian, Node and Go as installed here).
# The machine's CA store is mounted into RUN steps, so that pip, npm and go trust the same TLS
# roots this machine does; it is not copied into any image.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
WORK=${TMPDIR:-/tmp}/agentmesh-bases
mkdir -p "$WORK"

# A base is kept between builds only while what it was made from is unchanged: its tag is a
# digest of this script and of the toolchain versions copied into it.
KEY=$( { cat "$0"; node --version; go version; python3 --version; } | sha256sum | cut -c1-12)

base() {  # name, extra mmdebstrap arguments...: a local base image
  local name=$1; shift
  if ! podman image exists "localhost/agentmesh-base-$name:$KEY"; then
    mmdebstrap --quiet --variant=minbase "$@" bookworm "$WORK/$name.tar"
    podman import --quiet "$WORK/$name.tar" "localhost/agentmesh-base-$name:$KEY" >/dev/null
    rm -f "$WORK/$name.tar"
  fi
}

node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
go_root=$(go env GOROOT)
base python --include=python3,python3-venv,ca-certificates &
base node --include=ca-certificates,libstdc++6 \
  --customize-hook="copy-in $node_bin /usr/local/bin" \
  --customize-hook='mkdir -p "$1/usr/local/lib/node_modules"' \
  --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
  --customize-hook='chroot "$1" ln -sf /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm' &
base go --include=ca-certificates \
  --customize-hook="copy-in $go_root /usr/local" \
  --customize-hook='chroot "$1" ln -sf /usr/local/go/bin/go /usr/local/bin/go' &
wait

build() {  # runtime, base build-arg
  buildah bud --quiet --isolation chroot --layers=false \
    --volume /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg "VERSION=$VERSION" --build-arg "$2=localhost/agentmesh-base-$1:$KEY" \
    -f "deploy/images/$1.Containerfile" -t "ghcr.io/agentmesh/agentmesh-$1:$VERSION" . >/dev/null
  echo "built ghcr.io/agentmesh/agentmesh-$1:$VERSION (the manifests' name; nothing is pushed)"
}
build python PYTHON_IMAGE
build node NODE_IMAGE
build go GO_IMAGE
