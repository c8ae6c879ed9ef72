#!/usr/bin/env bash
# perf/scaling-logreg.sh [--weak] [--ranks 1,2,4] [--m M] [--n N] [--iters I] [--repeat R]
#                        [--tessera EXE] [--out DIR]: a scaling study of apps/logreg.tsl with
# `tessera scale` (1 worker thread per rank). Strong (default): X is M x N (M 200000) at every
# size. --weak: M rows per rank (M 50000), the data set made per size by --setup. Writes
# DIR/scaling.csv and DIR/scaling.png (default DIR: scale-logreg or scale-logreg-weak).
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
weak=0 ranks=1,2,4 m="" n=100 iters=100 repeat=3 tessera="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --weak) weak=1; shift ;;
    --ranks|--m|--n|--iters|--repeat|--tessera|--out)
      [ $# -ge 2 ] || { echo "scaling-logreg: $1 needs a value" >&2; exit 2; }
      v="$2"; o="${1#--}"; shift 2
      case "$o" in
        ranks) ranks="$v" ;; m) m="$v" ;; n) n="$v" ;; iters) iters="$v" ;;
        repeat) repeat="$v" ;; tessera) tessera="$v" ;; out) out="$v" ;;
      esac ;;
    *) echo "scaling-logreg: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$tessera" ]; then
  tessera="$root/build/apps/tessera"
  [ -x "$tessera" ] || "$root/scripts/build" build
fi
py=/usr/bin/python3
run=(tessera run "$root/apps/logreg.tsl" --arg alpha=1.0 --arg "iters=$iters" --timing --quiet)
if [ "$weak" = 1 ]; then
  m="${m:-50000}" out="${out:-scale-logreg-weak}"
  data="$out/data-{ranks}"
  exec "$tessera" scale --weak --ranks "$ranks" --threads 1 --repeat "$repeat" --out "$out" \
    --title "apps/logreg.tsl weak scaling: X ($m x ranks) x $n, $iters iterations, 1 thread/rank" \
    --setup "$py $root/apps/logreg_data.py --m {ranks*$m} --n $n --out $data" \
    -- "${run[@]}" --arg "X=$data/X.npy" --arg "y=$data/y.npy"
fi
m="${m:-200000}" out="${out:-scale-logreg}"
mkdir -p "$out"
"$py" "$root/apps/logreg_data.py" --m "$m" --n "$n" --out "$out/data"
exec "$tessera" scale --ranks "$ranks" --threads 1 --repeat "$repeat" --out "$out" \
  --title "apps/logreg.tsl strong scaling: X $m x $n, $iters iterations, 1 thread/rank" \
  -- "${run[@]}" --arg "X=$out/data/X.npy" --arg "y=$out/data/y.npy"
