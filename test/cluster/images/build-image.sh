#!/usr/bin/env bash
# build-image.sh REF ROOTFS_DIR OUT_TAR [CMD_JSON]
# Packs a root filesystem folder as a one-layer image in the docker-archive
# format that `ctr images import` reads. Reproducible: sorted entries, fixed
# times and owners, so the same folder always gives the same image ID.
set -euo pipefail
ref=$1 rootfs=$2 out=$3 cmd=${4:-'["/bin/sh"]'}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir -p "$work/${diff_id#sha256:}"
mv "$work/layer.tar" "$work/${diff_id#sha256:}/layer.tar"

printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"kube-rpf test/cluster/images/build-image.sh"}]}' \
  "$cmd" "$diff_id" >"$work/config.json"
config_id=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/$config_id.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
  "$config_id" "$ref" "${diff_id#sha256:}" >"$work/manifest.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out" .
