# Container images, assembled locally (no registry is reachable) and imported
# into the node's containerd. Each image is a folder under test/cluster/images/
# with a rootfs.sh that sets IMAGE_REF (or IMAGE_REPO, for images tagged by
# content), IMAGE_CMD and populate_rootfs; add a folder to add an image.

IMAGES=(pause testbox)

# Reads the whole list: `grep -q` would stop early, and under pipefail the
# listing's SIGPIPE would then count as "absent".
image_present() { ctr_node images ls -q 2>/dev/null | grep -x "$1" >/dev/null; }

# prune_image_tags REPO KEEP_TAG: removes the other tags of REPO (earlier builds).
prune_image_tags() {
  local ref
  for ref in $(ctr_node images ls -q 2>/dev/null | grep "^$1:" | grep -vx "$1:$2"); do
    ctr_node images rm "$ref" >/dev/null
  done
}

# build_and_import_image NAME [TAG]: builds images/NAME as IMAGE_REF (or, with
# TAG, as IMAGE_REPO:TAG) unless containerd already has it, and imports it.
build_and_import_image() {
  local name=$1 tag=${2:-} ref root tar IMAGE_REF IMAGE_REPO IMAGE_CMD
  # shellcheck source=/dev/null
  . "$CLUSTER_SRC/images/$name/rootfs.sh"
  ref=${tag:+$IMAGE_REPO:$tag}
  ref=${ref:-$IMAGE_REF}
  image_present "$ref" && return 0
  root=$(mktemp -d)
  tar="$CLUSTER_DIR/images/$name.tar"
  mkdir -p "$CLUSTER_DIR/images"
  populate_rootfs "$root"
  "$CLUSTER_SRC/images/build-image.sh" "$ref" "$root" "$tar" "$IMAGE_CMD"
  rm -rf "$root"
  ctr_node images import "$tar" >/dev/null
  rm -f "$tar"
  image_present "$ref" || die "importing $ref failed"
}

import_images() {
  local name
  for name in "${IMAGES[@]}"; do build_and_import_image "$name"; done
}
