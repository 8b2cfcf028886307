#!/usr/bin/env bash
# mpi_scaling.sh — records/s of `senti classify` (the embedded SST-2 MiniLM-L6
# q8_0 model) over N real sentences (the first N of SST-2 train) as
# 1 rank x 1 thread, 1 rank x 2 threads and R ranks x 1 thread under mpirun,
# the configurations interleaved within each repeat; medians over repeats with
# the range, wall time of the whole command (model load and mpirun start
# included), the CPU seconds of all its processes (records per CPU-second: a
# figure a busy machine disturbs far less than wall time, since more
# processes simply get more of a shared CPU), the scaling ratio R-rank /
# 1-rank, and a check that every
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

run() { # name, command...: appends "wall user sys" seconds (all processes) to $tmp/name.times
    local name=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$tmp/$name.t" "$@" > /dev/null 2> "$tmp/$name.err"
    cat "$tmp/$name.t" >> "$tmp/$name.times"
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
rate, cpu = {}, {}
print("| configuration | wall s median [min .. max] | records/s median [min .. max] | CPU s (user+sys) | "
      "records per CPU-second |")
print("|---|---:|---:|---:|---:|")
for key, title in rows:
    t = [[float(v) for v in x.split()] for x in open(f"{tmp}/{key}.times")]
    wall = [x[0] for x in t]
    r = sorted(n / x for x in wall)
    c = statistics.median(x[1] + x[2] for x in t)
    rate[key], cpu[key] = statistics.median(r), n / c
    print(f"| {title} | {statistics.median(wall):.2f} [{min(wall):.2f} .. {max(wall):.2f}] | "
          f"{rate[key]:.1f} [{r[0]:.1f} .. {r[-1]:.1f}] | {c:.1f} | {cpu[key]:.1f} |")
k = f"r{ranks}t1"
print(f"\nscaling ratio {ranks} ranks / 1 rank (wall): {rate[k] / rate['r1t1']:.2f} "
      f"({rate[k] / rate['r1t1'] / ranks:.0%} of {ranks}x); {ranks} ranks / 1 rank x 2 threads: "
      f"{rate[k] / rate['r1t2']:.2f}; 2 threads / 1 thread: {rate['r1t2'] / rate['r1t1']:.2f}")
print(f"work efficiency (records per CPU-second, {ranks} ranks / 1 rank): {cpu[k] / cpu['r1t1']:.3f}; "
      f"1 rank x 2 threads / 1 x 1: {cpu['r1t2'] / cpu['r1t1']:.3f} (load-independent: on free cores the "
      f"wall-time ratio of {ranks} ranks is about {ranks} x this)")
print("outputs byte-identical across the three configurations")
PY
echo "mpi_scaling: the last run's summaries (1 rank x 1 thread, then ${ranks} ranks):"
grep "senti:" "$tmp/r1t1.err" "$tmp/r${ranks}t1.err" | sed "s|^$tmp/||" || true
