# Stopping the cluster and removing everything it made on this machine.

# stop_pid PID SECONDS: SIGTERM, then SIGKILL if it is still there.
stop_pid() {
  local pid=$1 grace=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((grace * 10))); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_components() {
  local i name pid
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${COMPONENTS[$i]}
    if pid=$(component_pid "$name"); then
      log "stopping $name (pid $pid)"
      stop_pid "$pid" 10
    fi
    rm -f "$(pid_file "$name")"
  done
}

# Every process still in the tracking cgroup: container processes and the
# containerd shims that outlive containerd.
cgroup_pids() {
  [ -d "$CGROUP_PIDS" ] || return 0
  find "$CGROUP_PIDS" -name cgroup.procs -exec cat {} + 2>/dev/null
}

kill_cgroup_processes() {
  local i pids killed=""
  for i in $(seq 1 50); do
    pids=$(cgroup_pids)
    if [ -z "$pids" ]; then
      wait_gone $killed
      return 0
    fi
    killed="$killed $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
  die "processes still running in $CGROUP_PIDS: $(cgroup_pids | tr '\n' ' ')"
}

# wait_gone PID...: until each has exited (a zombie waiting for PID 1 to reap
# it has exited), at most 10 s.
wait_gone() {
  local pid i
  for pid in "$@"; do
    for i in $(seq 1 100); do
      [ -r "/proc/$pid/stat" ] || break
      [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
      sleep 0.1
    done
  done
}

remove_cgroups() {
  local h
  for h in $(cgroup_hierarchies); do
    [ -d "$h/$CGROUP_NAME" ] || continue
    # Deepest first; rmdir only removes empty cgroups.
    find "$h/$CGROUP_NAME" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$h/$CGROUP_NAME" ] && log "warning: could not remove cgroup $h/$CGROUP_NAME"
  done
  return 0
}

# Mounts of this machine's mount namespace that belong to the cluster. With the
# node in its own mount namespace there should be none but the netns handle.
cluster_mounts() {
  awk -v a="$CLUSTER_DIR/" -v b="$HOST_RUN_DIR/" '
    index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo
}

remove_state() {
  local m
  for m in $(cluster_mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [ -z "$(cluster_mounts)" ] || die "mounts remain under $CLUSTER_DIR: $(cluster_mounts | tr '\n' ' ')"
  # Logs and the audit log stay for post-mortems; everything else goes.
  local i
  for i in $(all_node_indexes); do
    select_node "$i"
    rm -rf --one-file-system "$NODE_DIR"
  done
  select_node 0
  rm -rf --one-file-system "$CLUSTER_DIR/etcd" "$PID_DIR" "$CLUSTER_DIR/images" "$NODES_FILE"
  rm -rf "$HOST_RUN_DIR"
  rmdir /var/log/pods 2>/dev/null || true
}

# down [DIR]: stops the cluster recorded in DIR's pids (default: this checkout's).
teardown() {
  stop_components
  kill_cgroup_processes
  remove_cgroups
  remove_network
  remove_state
}

# "PID START_TIME" of every process the cluster runs, for the test that proves
# `down` stopped them all (the start time tells a reused PID apart).
list_cluster_processes() {
  local pid
  { for name in "${COMPONENTS[@]}"; do component_pid "$name" || true; done; cgroup_pids; } |
    sort -un | while read -r pid; do
      [ -r "/proc/$pid/stat" ] && echo "$pid $(awk '{print $22}' "/proc/$pid/stat")"
    done
}
