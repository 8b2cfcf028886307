#!/usr/bin/env bash
# mpi_scaling.sh — records/s of `senti classify` (the embedded SST-2 MiniLM-L6
# q8_0 model) over N real sentences (the first N of SST-2 train) as
# 1 rank x 1 thread, 1 rank x 2 threads and R ranks x 1 thread under mpirun,
# the configurations interleaved within each repeat; medians over repeats with
# the range, wall time of the whole command (model load and mpirun start
# included), the scaling ratio R-rank / 1-rank, and a check that every
# configuration wrote the same bytes. Prints the load average before and after.
#
#   bench/mpi_scaling.sh [N] [REPEATS] [RANKS]      (defaults 20000 3 2)
#
# Needs a build with MPI (build/senti, or $SENTI; SENTI_MPI found Open MPI) and
# ../shared/assets/data/sst2/train.tsv. Run it on a quiet machine: the ratio is
# only meaningful when RANKS cores are free.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
reps=${2:-3}
ranks=${3:-2}
senti=${SENTI:-$PWD/build/senti}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk -F"\t" -v n="$n" 'NR > 1 && NR <= n + 1 { print $2 }' ../shared/assets/data/sst2/train.tsv > "$tmp/in.txt"
got=$(wc -l < "$tmp/in.txt")
echo "mpi_scaling: $got SST-2 train sentences, $(wc -c < "$tmp/in.txt") bytes; $(nproc) cores; $reps repeats"
echo "mpi_scaling: load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # name, command...: appends "seconds" to $tmp/name.times, output to $tmp/name.out
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null 2> "$tmp/$name.err"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >> "$tmp/$name.times"
}

mpi=(mpirun --allow-run-as-root --bind-to core --map-by core -np "$ranks")
[ "$ranks" -le "$(nproc)" ] || mpi=(mpirun --allow-run-as-root --oversubscribe -np "$ranks")
for ((r = 0; r < reps; r++)); do
    run r1t1 "$senti" classify --input "$tmp/in.txt" --output "$tmp/r1t1.out" --threads 1
    run r1t2 "$senti" classify --input "$tmp/in.txt" --output "$tmp/r1t2.out" --threads 2
    run "r${ranks}t1" "${mpi[@]}" "$senti" classify --input "$tmp/in.txt" --output "$tmp/r${ranks}t1.out" --threads 1
done
echo "mpi_scaling: load after: $(cut -d' ' -f1-3 /proc/loadavg)"

for c in r1t2 "r${ranks}t1"; do
    cmp -s "$tmp/r1t1.out" "$tmp/$c.out" || { echo "mpi_scaling: $c wrote other bytes than r1t1" >&2; exit 1; }
done
python3 - "$tmp" "$got" "$ranks" <<'PY'
import statistics, sys
tmp, n, ranks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [("r1t1", "1 rank x 1 thread"), ("r1t2", "1 rank x 2 threads"), (f"r{ranks}t1", f"{ranks} ranks x 1 thread")]
rate = {}
print("| configuration | wall s median [min .. max] | records/s median [min .. max] |")
print("|---|---:|---:|")
for key, title in rows:
    t = [float(x) for x in open(f"{tmp}/{key}.times")]
    r = sorted(n / x for x in t)
    rate[key] = statistics.median(r)
    print(f"| {title} | {statistics.median(t):.2f} [{min(t):.2f} .. {max(t):.2f}] | "
          f"{rate[key]:.1f} [{r[0]:.1f} .. {r[-1]:.1f}] |")
k = f"r{ranks}t1"
print(f"\nscaling ratio {ranks} ranks / 1 rank: {rate[k] / rate['r1t1']:.2f} "
      f"({rate[k] / rate['r1t1'] / ranks:.0%} of {ranks}x); {ranks} ranks / 1 rank x 2 threads: "
      f"{rate[k] / rate['r1t2']:.2f}; 2 threads / 1 thread: {rate['r1t2'] / rate['r1t1']:.2f}")
print("outputs byte-identical across the three configurations")
PY
echo "mpi_scaling: the last run's summaries (1 rank x 1 thread, then ${ranks} ranks):"
grep "senti:" "$tmp/r1t1.err" "$tmp/r${ranks}t1.err" | sed "s|^$tmp/||" || true
