"""Does a thread pay for the others? The cost per malloc+free pair of the
churn workload at 1, 2 and 4 threads, in the steady state.

The suite's main table times whole runs: start-up, thread creation, each
thread's first stack walks and the exit dump are in them, and a 4-thread
run keeps both CPUs busy for several seconds, so on a shared machine it
collects more of the neighbours' noise than a 1-thread run does. Here each
round runs every thread count at two lengths, natively and under leaktrace,
back to back; the difference of the two lengths is the cost of the extra
operations alone, with every fixed cost cancelled, and the difference of
the two modes in the same round cancels the machine's slow drifts. The
table gives the median over the rounds and its interquartile range.

Callgrind's counts of the instructions leaktrace adds per pair at each
thread count (also by difference of two lengths) show the same thing
without noise: the work per operation does not grow with threads.
"""

import os
import statistics

THREADS = (1, 2, 4)
LIVE = "10000"


def steady_state(modes, run, binary, rounds, short, long):
    """Per round and thread count: (native ns/pair, leaktrace added ns/pair)
    between `short` and `long` operations per thread."""
    per = {t: [] for t in THREADS}
    for _ in range(rounds):
        for t in THREADS:
            cpu = {}
            for ops in (short, long):
                cmd = [binary, str(t), str(ops), LIVE]
                for mode in ("native", "leaktrace"):
                    c, env = getattr(modes, mode)(cmd)
                    cpu[mode, ops] = run(c, env)["cpu"]
            pairs = (long - short) * t
            native = (cpu["native", long] - cpu["native", short]) / pairs * 1e9
            traced = (cpu["leaktrace", long] - cpu["leaktrace", short]) / pairs * 1e9
            per[t].append((native, traced - native))
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


def table(modes, run, instructions, bins, rounds, scale):
    """The section's lines; `bins` maps a build name to its churn binary."""
    short, long = int(150_000 * scale), int(450_000 * scale)
    lines = [
        "## Threads: cost per operation at 1, 2 and 4 threads (steady state)",
        "",
        f"churn, 10,000 live blocks a thread; each round runs {short:,} and {long:,} pairs a thread, natively "
        f"and under leaktrace, back to back; ns/pair is the CPU time of the extra {long - short:,} pairs a thread "
        f"(start-up, thread creation and exit cancel out). Median of {rounds} rounds (q1–q3). "
        "Instructions: callgrind, same difference, exact.",
        "",
        "| build | threads | native ns/pair | leaktrace added ns/pair | added instructions/pair |",
        "|---|---|---|---|---|",
    ]
    for name, binary in bins.items():
        per = steady_state(modes, run, binary, rounds, short, long)
        instr = added_instructions(modes, instructions, binary, int(20_000 * scale), int(60_000 * scale))
        for t in THREADS:
            nq = quartiles([n for n, _ in per[t]])
            aq = quartiles([a for _, a in per[t]])
            lines.append(
                f"| churn {name} | {t} | {nq[1]:.0f} ({nq[0]:.0f}–{nq[2]:.0f}) | "
                f"{aq[1]:.0f} ({aq[0]:.0f}–{aq[2]:.0f}) | {instr[t]:.0f} |"
            )
    return lines


def binaries(target, variants):
    return {v: os.path.join(target, "bench", v, "churn") for v in variants}
