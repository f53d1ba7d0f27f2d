"""Does a thread pay for the others? The cost per malloc+free pair of the
churn workload at 1, 2 and 4 threads, in the steady state.

The suite's main table times whole runs: start-up, thread creation, each
thread's first stack walks and the exit dump are in them, and a 4-thread
run keeps both CPUs busy for several seconds, so on a shared machine it
collects more of the neighbours' noise than a 1-thread run does. Its
4-thread run also keeps four times the live blocks of the 1-thread run,
and the cost of a pair grows with the live set (the table's lines, and
the program's own, outgrow the caches) on one thread as on four.

So here each round runs 1, 2 and 4 threads sharing one total live set
(10,000 and 40,000 blocks), each at two lengths, natively and under
leaktrace, back to back. The difference of the two lengths is the cost of
the extra operations alone, with every fixed cost cancelled; the
difference of the two modes in the same round cancels the machine's slow
drifts; and each round's figure for 2 or 4 threads minus its figure for 1
thread with the same live set is what the other threads cost, given as a
median with a bootstrap 95 % interval.

Callgrind's counts of the instructions leaktrace adds per pair at each
thread count (also by difference of two lengths) show the work per
operation without noise.
"""

import os
import random
import statistics

THREADS = (1, 2, 4)
# (threads, live blocks a thread): per total live set, 1, 2 and 4 threads.
CONFIGS = [(1, 10_000), (2, 5_000), (4, 2_500), (1, 40_000), (2, 20_000), (4, 10_000)]
LIVE = "10000"


def steady_state(modes, run, binary, rounds, short, long):
    """Per config, per round: (native ns/pair, leaktrace added ns/pair)
    between `short` and `long` operations per thread."""
    per = {c: [] for c in CONFIGS}
    for _ in range(rounds):
        for threads, live in CONFIGS:
            cpu = {}
            for ops in (short, long):
                cmd = [binary, str(threads), str(ops), str(live)]
                for mode in ("native", "leaktrace"):
                    c, env = getattr(modes, mode)(cmd)
                    cpu[mode, ops] = run(c, env)["cpu"]
            pairs = (long - short) * threads
            native = (cpu["native", long] - cpu["native", short]) / pairs * 1e9
            traced = (cpu["leaktrace", long] - cpu["leaktrace", short]) / pairs * 1e9
            per[threads, live].append((native, traced - native))
    return per


def added_instructions(modes, instructions, binary, short, long):
    """Instructions leaktrace adds per pair at each thread count (callgrind)."""
    out = {}
    for t in THREADS:
        count = {}
        for mode in ("native", "leaktrace"):
            for ops in (short, long):
                c, env = getattr(modes, mode)([binary, str(t), str(ops), LIVE])
                count[mode, ops] = instructions(c, env)
        pairs = (long - short) * t
        native = (count["native", long] - count["native", short]) / pairs
        traced = (count["leaktrace", long] - count["leaktrace", short]) / pairs
        out[t] = traced - native
    return out


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4)
    return q1, median, q3


def median_interval(values, draws=2000):
    """The median and a bootstrap 95 % interval of it."""
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return statistics.median(values), medians[draws // 40], medians[draws - 1 - draws // 40]


def table(modes, run, instructions, bins, rounds, scale):
    """The section's lines; `bins` maps a build name to its churn binary
    (times for the first, instructions for all)."""
    short, long = int(150_000 * scale), int(450_000 * scale)
    name, binary = next(iter(bins.items()))
    per = steady_state(modes, run, binary, rounds, short, long)
    lines = [
        "## Threads: cost per operation at 1, 2 and 4 threads (steady state)",
        "",
        f"churn {name}; each round runs every row at {short:,} and {long:,} pairs a thread, natively and "
        f"under leaktrace, back to back; ns/pair is the CPU time of the extra {long - short:,} pairs a thread "
        f"(start-up, thread creation and exit cancel out). Median of {rounds} rounds (q1–q3); the last "
        "column is each round's figure minus that of 1 thread with the same total live blocks (median, "
        "bootstrap 95 % interval).",
        "",
        "| threads × live blocks each | native ns/pair | leaktrace added ns/pair | added minus 1 thread |",
        "|---|---|---|---|",
    ]
    for threads, live in CONFIGS:
        nq = quartiles([n for n, _ in per[threads, live]])
        aq = quartiles([a for _, a in per[threads, live]])
        base = per[1, threads * live]
        if threads == 1:
            versus = ""
        else:
            m, lo, hi = median_interval([a - b for (_, a), (_, b) in zip(per[threads, live], base)])
            versus = f"{m:+.0f} ({lo:+.0f} to {hi:+.0f})"
        lines.append(
            f"| {threads} × {live:,} | {nq[1]:.0f} ({nq[0]:.0f}–{nq[2]:.0f}) | "
            f"{aq[1]:.0f} ({aq[0]:.0f}–{aq[2]:.0f}) | {versus} |"
        )
    lines += [
        "",
        "Instructions leaktrace adds per pair (callgrind, 10,000 live blocks a thread, "
        f"{int(40_000 * scale):,} more pairs a thread):",
        "",
        "| build | 1 thread | 2 threads | 4 threads |",
        "|---|---|---|---|",
    ]
    for build, path in bins.items():
        instr = added_instructions(modes, instructions, path, int(20_000 * scale), int(60_000 * scale))
        lines.append(f"| churn {build} | " + " | ".join(f"{instr[t]:.0f}" for t in THREADS) + " |")
    return lines


def binaries(target, variants):
    return {v: os.path.join(target, "bench", v, "churn") for v in variants}
