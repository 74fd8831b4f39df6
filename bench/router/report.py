"""What the two router benchmarks (run.py: echo, model_infer.py: ModelInfer)
share: the routed / direct summary per stream count, the CPU each process
spent per call, and their Markdown tables, with the issue's targets
(reported, never asserted)."""
import os

TARGET_RATIO = 0.7
TARGET_ADDED_P50_MS = 0.3
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """User + system CPU of a process so far, in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_us_per_call(ticks_before, ticks_after, calls):
    return round((ticks_after - ticks_before) * 1e6 / TICKS / calls, 1) if calls else None


def summarize(results, streams_list, key="router"):
    """Per stream count: results[key]'s throughput over direct's, and the p50/p99 it adds."""
    summary = {}
    for streams in streams_list:
        d, r = results["direct"]["runs"][str(streams)], results[key]["runs"][str(streams)]
        summary[str(streams)] = {
            "ratio": round(r["req_per_s"] / d["req_per_s"], 3) if d["req_per_s"] else None,
            "added_p50_ms": round(r["p50_ms"] - d["p50_ms"], 3) if r["p50_ms"] and d["p50_ms"] else None,
            "added_p99_ms": round(r["p99_ms"] - d["p99_ms"], 3) if r["p99_ms"] and d["p99_ms"] else None,
        }
    return summary


def tables(results, summaries, labels, failed=lambda r: r["failed"], judged=None):
    """The runs table (labels: {"direct": ..., routed key: ...}, in order), the ratio table per routed
    key (summaries: {key: summarize(...)}) and the targets for the routed keys in judged (default:
    the first), as lines."""
    cpu = any("cpu_us_per_call" in r for k in labels for r in results[k]["runs"].values())
    head = "| path | streams | req/s | p50 ms | p99 ms | failed |" + (" CPU µs per call |" if cpu else "")
    lines = [head, "|---|---:|---:|---:|---:|---:|" + ("---|" if cpu else "")]
    for key, label in labels.items():
        for streams, r in results[key]["runs"].items():
            row = f"| {label} | {streams} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {failed(r)} |"
            if cpu:
                row += " " + ", ".join(f"{n} {v}" for n, v in r.get("cpu_us_per_call", {}).items()) + " |"
            lines.append(row)
    lines += ["", "| path | streams | routed / direct req/s | added p50 ms | added p99 ms |",
              "|---|---:|---:|---:|---:|"]
    for key, summary in summaries.items():
        for streams, s in summary.items():
            lines.append(f"| {labels[key]} | {streams} | {s['ratio']} | {s['added_p50_ms']} | {s['added_p99_ms']} |")
    for key in judged or [next(iter(summaries))]:
        lines += ["", f"Targets (issue 5 §7), for {labels[key]}: routed throughput >= {TARGET_RATIO}x direct, "
                  f"added p50 <= {TARGET_ADDED_P50_MS} ms.", ""]
        for streams, s in summaries[key].items():
            ok_r = (s["ratio"] or 0) >= TARGET_RATIO
            ok_l = s["added_p50_ms"] is not None and s["added_p50_ms"] <= TARGET_ADDED_P50_MS
            lines.append(f"- {streams} stream(s): ratio {s['ratio']} ({'met' if ok_r else 'NOT met'}), added p50 "
                         f"{s['added_p50_ms']} ms ({'met' if ok_l else 'NOT met'})")
    lines += ["", "Absolute numbers are noisy on a shared 2-CPU machine; compare within one run only.", ""]
    return lines
