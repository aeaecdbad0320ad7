# Container images, assembled locally (no registry is reachable) and imported
# into every node's containerd. Each image is a folder under test/cluster/images/
# with a rootfs.sh that sets IMAGE_REF (or IMAGE_REPO, for images tagged by
# content), IMAGE_CMD and populate_rootfs; add a folder to add an image.

IMAGES=(pause testbox)

# Whether the selected node's containerd has the image. Reads the whole list:
# `grep -q` would stop early, and under pipefail the listing's SIGPIPE would
# then count as "absent".
image_present() { ctr_node images ls -q 2>/dev/null | grep -x "$1" >/dev/null; }

# Whether every node has the image.
image_on_all_nodes() {
  local i
  for i in $(node_indexes); do
    select_node "$i"
    image_present "$1" || { select_node 0; return 1; }
  done
  select_node 0
}

# prune_image_tags REPO KEEP_TAG: removes the other tags of REPO (earlier builds) on every node.
prune_image_tags() {
  local ref i
  for i in $(node_indexes); do
    select_node "$i"
    for ref in $(ctr_node images ls -q 2>/dev/null | grep "^$1:" | grep -vx "$1:$2"); do
      ctr_node images rm "$ref" >/dev/null
    done
  done
  select_node 0
}

# build_and_import_image NAME [TAG]: builds images/NAME as IMAGE_REF (or, with
# TAG, as IMAGE_REPO:TAG) unless every node's containerd already has it, and
# imports it into each node that lacks it.
build_and_import_image() {
  local name=$1 tag=${2:-} ref root tar i IMAGE_REF IMAGE_REPO IMAGE_CMD
  # shellcheck source=/dev/null
  . "$CLUSTER_SRC/images/$name/rootfs.sh"
  ref=${tag:+$IMAGE_REPO:$tag}
  ref=${ref:-$IMAGE_REF}
  image_on_all_nodes "$ref" && return 0
  root=$(mktemp -d)
  tar="$CLUSTER_DIR/images/$name.tar"
  mkdir -p "$CLUSTER_DIR/images"
  populate_rootfs "$root"
  "$CLUSTER_SRC/images/build-image.sh" "$ref" "$root" "$tar" "$IMAGE_CMD"
  rm -rf "$root"
  for i in $(node_indexes); do
    select_node "$i"
    image_present "$ref" || ctr_node images import "$tar" >/dev/null
    image_present "$ref" || die "importing $ref into $NODE_NAME failed"
  done
  select_node 0
  rm -f "$tar"
}

import_images() {
  local name
  for name in "${IMAGES[@]}"; do build_and_import_image "$name"; done
}
