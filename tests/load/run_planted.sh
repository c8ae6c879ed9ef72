#!/usr/bin/env bash
# run_planted.sh TEXT CMD...: a test of bench_load's checks. CMD (bench_load
# with --plant PART) must fail, non-zero, and say TEXT on stderr: the
# check's own message, so a crash or hang does not pass for a caught error.
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
text="$1"
shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
timeout 50 "$@" >/dev/null 2>"$err"
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "FAIL: the planted error went unnoticed (exit 0): $*" >&2
  exit 1
fi
if [ "$rc" -eq 124 ]; then
  echo "FAIL: hung until the 50 s timeout: $*" >&2
  exit 1
fi
if ! grep -qF -- "$text" "$err"; then
  echo "FAIL: exit $rc but stderr does not say '$text':" >&2
  cat "$err" >&2
  exit 1
fi
echo "caught (exit $rc): $(grep -F -m1 -- "$text" "$err")"
