# rootfs.sh ROOTFS: the pause image: one static binary (test/cluster/build/pause).
IMAGE_REF=localhost/kube-rpf/pause:v1
IMAGE_CMD='["/pause"]'
populate_rootfs() {
  install -m 0755 "$BIN_DIR/pause" "$1/pause"
}
