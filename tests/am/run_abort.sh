#!/usr/bin/env bash
# run_abort.sh MPIRUN NP PROGRAM MODE: run `PROGRAM MODE` on NP ranks under
# `timeout 30` and check that the job failed on its own (non-zero exit, not
# the timeout), within 15 seconds, and that stderr has the fatal line of the
# last rank: "[rank NP-1] tessera: fatal: ... boom from test".
set -euo pipefail
usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then usage; exit 0; fi
[ $# -eq 4 ] || { usage >&2; exit 2; }
mpirun="$1" np="$2" prog="$3" mode="$4"
err=$(mktemp)
trap 'rm -f "$err"' EXIT

start=$(date +%s%N)
set +e
timeout 30 "$mpirun" -np "$np" "$prog" "$mode" >/dev/null 2>"$err"
rc=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

fail() {
  echo "FAIL ($mode, $np ranks): $*" >&2
  echo "--- stderr of the job ---" >&2
  cat "$err" >&2
  exit 1
}
[ "$rc" -ne 0 ] || fail "the job exited 0: tsr_abort did not end it"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "the job hung until the 30 s timeout"
[ "$elapsed_ms" -le 15000 ] || fail "the job took ${elapsed_ms} ms to end (limit 15000)"
last=$((np - 1))
grep -q "^\[rank $last\] tessera: fatal: .*boom from test" "$err" \
  || fail "stderr lacks '[rank $last] tessera: fatal: ... boom from test'"
if [ "$mode" = "status" ]; then
  grep -q "TSR_ERR_INVALID" "$err" || fail "stderr lacks the failed call's status"
fi
echo "ok: $mode on $np ranks ended with exit $rc after ${elapsed_ms} ms"
