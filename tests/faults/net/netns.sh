# netns.sh: sourced by the faults-net tests. Makes N "hosts" on this machine:
# network namespaces <prefix>-h1..hN, each with one veth (eth0, 10.77.0.1K/24)
# plugged into a bridge that lives in a hub namespace <prefix>-hub
# (10.77.0.1). mpirun runs in the hub, the ranks' daemons in the hosts
# (tests/faults/net/agent enters them, each with its own hostname h1..hN), and
# Open MPI talks TCP only, so every message crosses a veth. Nothing is added
# to the root namespace: parallel runs (each its own prefix) do not collide
# even though they use the same addresses.
#
#   net_setup N       make the hosts; sets NET_PREFIX, NET_HUB, NET_HOSTFILE
#   net_mpirun ARGS   mpirun in the hub across the hosts (TCP only)
#   net_cut I         take host I's link down (bridge side, in the hub)
#   net_pids          pids of every process in any of our namespaces
#   net_teardown      kill what is left in them and delete them (trap'd)
# Needs root and iproute2, util-linux (nsenter, unshare; see nsexec). Stale namespaces of runs
# whose shell died (tsrnet-PID-*, PID gone) are removed by net_setup.

NET_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

net__stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^tsrnet-[0-9]*-' || true); do
    pid=${ns#tsrnet-}; pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
      net__kill_ns "$ns"
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

# net__in NS COMMAND...: COMMAND in network namespace NS only. Not `ip -n`,
# which (like `ip netns exec`) runs `mount --make-rslave /` first and fails
# where / is not a mount point (a chroot, e.g. a fresh-run root).
net__in() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" -- "$@"
}

net__kill_ns() { # kill -9 every process in namespace $1
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
}

net_setup() {
  local n=$1 i
  if [ "$(id -u)" -ne 0 ]; then echo "faults-net: needs root (network namespaces)" >&2; exit 77; fi
  command -v ip >/dev/null || { echo "faults-net: iproute2 (ip) is not installed" >&2; exit 77; }
  net__stale
  NET_PREFIX="tsrnet-$$"
  NET_HUB="$NET_PREFIX-hub"
  NET_N=$n
  NET_TMP=$(mktemp -d /tmp/tsrnet.XXXXXX)
  NET_HOSTFILE="$NET_TMP/hostfile"
  trap net_teardown EXIT
  trap 'exit 130' INT TERM
  ip netns add "$NET_HUB"
  net__in "$NET_HUB" ip link set lo up
  net__in "$NET_HUB" ip link add br0 type bridge
  net__in "$NET_HUB" ip addr add 10.77.0.1/24 dev br0
  net__in "$NET_HUB" ip link set br0 up
  : > "$NET_HOSTFILE"
  for i in $(seq 1 "$n"); do
    ip netns add "$NET_PREFIX-h$i"
    net__in "$NET_PREFIX-h$i" ip link set lo up
    # The pair is made in the hub; one end moves into the host as eth0.
    net__in "$NET_HUB" ip link add "v$i" type veth peer name "eth0" netns "$NET_PREFIX-h$i"
    net__in "$NET_HUB" ip link set "v$i" master br0 up
    net__in "$NET_PREFIX-h$i" ip addr add "10.77.0.1$i/24" dev eth0
    net__in "$NET_PREFIX-h$i" ip link set eth0 up
    echo "10.77.0.1$i slots=4" >> "$NET_HOSTFILE"
  done
  # Wait until every port forwards and every link is up (at once without
  # STP, which a new bridge does not run; a bounded wait all the same).
  local k
  for i in $(seq 1 "$n"); do
    for k in $(seq 1 50); do
      if net__in "$NET_HUB" bridge link show dev "v$i" | grep -q 'state forwarding' &&
         net__in "$NET_PREFIX-h$i" ip link show dev eth0 | grep -q LOWER_UP; then
        break
      fi
      sleep 0.1
    done
  done
}

net_pids() {
  local ns
  for ns in "$NET_HUB" $(seq -f "$NET_PREFIX-h%g" 1 "$NET_N"); do
    ip netns pids "$ns" 2>/dev/null || true
  done
}

net_cut() { net__in "$NET_HUB" ip link set "v$1" down; }

net_teardown() {
  local ns
  [ -n "${NET_PREFIX:-}" ] || return 0
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NET_PREFIX-" || true); do
    net__kill_ns "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "${NET_TMP:-/nonexistent}"
  NET_PREFIX=
}

# net_mpirun [mpirun args] PROGRAM [ARGS]: from the hub, across the hosts in
# the hostfile, Open MPI over TCP only (no shared memory between hosts; also
# none between ranks on one host, which the tests do not need), out-of-band
# and MPI traffic on the veth subnet, daemons started by the agent (no tree
# spawn: the hub starts every daemon).
net_mpirun() {
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1 \
  TSR_NET_PREFIX="$NET_PREFIX" \
  "$NET_DIR/nsexec" "$NET_HUB" sh -c 'hostname hub && exec "$@"' sh \
    mpirun --hostfile "$NET_HOSTFILE" --oversubscribe --bind-to none \
      --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
      --mca oob_tcp_if_include 10.77.0.0/24 \
      --mca plm_rsh_agent "$NET_DIR/agent" --mca plm_rsh_no_tree_spawn 1 \
      --map-by node "$@"
}
