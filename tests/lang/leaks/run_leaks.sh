#!/bin/sh
# run_leaks.sh TESSERA MPIRUN NP: run leaks.tsl and require "ok true". Under
# ASan the run checks for leaks at exit (ASAN_OPTIONS from scripts/test); a
# crash of LeakSanitizer's own tracer (not a leak: see tests/meson.build) is
# retried, at most twice. Any leak report fails.
set -u
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
tessera=$(abs "$1") mpirun=$(abs "$2") np=$3
prog=$(abs "$(dirname "$0")/leaks.tsl")
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
for attempt in 1 2 3; do
  out=$("$mpirun" -np "$np" "$tessera" run "$prog" --arg n=6 --tile 2 2>&1)
  st=$?
  if printf '%s\n' "$out" | grep -q "LeakSanitizer has encountered a fatal error" &&
     ! printf '%s\n' "$out" | grep -q "detected memory leaks"; then
    echo "attempt $attempt: LeakSanitizer's tracer crashed (not a leak); again" >&2
    continue
  fi
  printf '%s\n' "$out"
  [ "$st" -eq 0 ] || { echo "FAIL: exit status $st" >&2; exit 1; }
  printf '%s\n' "$out" | grep -qx "ok true" || { echo "FAIL: no 'ok true'" >&2; exit 1; }
  exit 0
done
echo "FAIL: LeakSanitizer's tracer crashed three times" >&2
exit 1
