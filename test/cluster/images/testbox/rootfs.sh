# The testbox image: busybox (sh, wget, nc, httpd, sha256sum, ...) for the
# end-to-end tests and the demo. Its default command sleeps until stopped.
IMAGE_REF=localhost/kube-rpf/testbox:v1
IMAGE_CMD='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
populate_rootfs() {
  local root=$1 applet
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/www" "$root/usr/bin" "$root/sbin" "$root/usr/sbin"
  chmod 1777 "$root/tmp"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo 'kube-rpf testbox' >"$root/www/index.html"
}
