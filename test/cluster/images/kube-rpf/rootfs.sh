# The kube-rpf image (rpf-server and rpf-agent), assembled from the built
# project: Node 24 from node_modules with the shared libraries it links,
# rpf-netns-listen (the agent's Go helper that opens listeners in pod network
# namespaces, built here, static), nsenter (its fallback), dist/ and the
# production dependencies. For real
# clusters the same image is built by the Dockerfile at the repository root.
IMAGE_REPO=localhost/kube-rpf/kube-rpf
IMAGE_CMD='["/usr/local/bin/node","/app/dist/server/main.js"]'

# copy_with_libs FILE DEST ROOT: installs FILE as ROOT/DEST and every shared
# library it links, at the same paths as on this machine.
copy_with_libs() {
  local file=$1 dest=$2 root=$3 lib
  install -D -m 0755 "$file" "$root/$dest"
  for lib in $(ldd "$file" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || cp -L --parents "$lib" "$root"
  done
}

populate_rootfs() {
  local root=$1 stage
  mkdir -p "$root/app" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  copy_with_libs "$(readlink -f "$REPO_ROOT/node_modules/.bin/node")" usr/local/bin/node "$root"
  copy_with_libs "$(command -v nsenter)" usr/bin/nsenter "$root"
  (cd "$REPO_ROOT/node-agent/netns-listen" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$root/usr/local/bin/rpf-netns-listen" .)
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  # The components only: not dist/release, the client's single executables.
  mkdir -p "$root/app/dist"
  local part
  for part in client server node-agent protocol; do cp -r "$REPO_ROOT/dist/$part" "$root/app/dist/$part"; done
  cp "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$root/app/"
  stage=$(mktemp -d)
  cp "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$stage/"
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  mv "$stage/node_modules" "$root/app/node_modules"
  rm -rf "$stage"
}
