"""What the two router benchmarks (run.py: echo, model_infer.py: ModelInfer)
share: the routed / direct summary per stream count and its Markdown tables,
with the issue's targets (reported, never asserted)."""

TARGET_RATIO = 0.7
TARGET_ADDED_P50_MS = 0.3


def summarize(results, streams_list):
    """Per stream count: routed/direct throughput ratio and the p50/p99 the router adds."""
    summary = {}
    for streams in streams_list:
        d, r = results["direct"]["runs"][str(streams)], results["router"]["runs"][str(streams)]
        summary[str(streams)] = {
            "ratio": round(r["req_per_s"] / d["req_per_s"], 3) if d["req_per_s"] else None,
            "added_p50_ms": round(r["p50_ms"] - d["p50_ms"], 3) if r["p50_ms"] and d["p50_ms"] else None,
            "added_p99_ms": round(r["p99_ms"] - d["p99_ms"], 3) if r["p99_ms"] and d["p99_ms"] else None,
        }
    return summary


def tables(results, summary, labels, failed=lambda r: r["failed"]):
    """The runs table (labels: {"direct": ..., "router": ...}), the ratio table and the targets, as lines."""
    lines = ["| path | streams | req/s | p50 ms | p99 ms | failed |", "|---|---:|---:|---:|---:|---:|"]
    for key in ("direct", "router"):
        for streams, r in results[key]["runs"].items():
            lines.append(f"| {labels[key]} | {streams} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | "
                         f"{failed(r)} |")
    lines += ["", "| streams | routed / direct req/s | added p50 ms | added p99 ms |", "|---:|---:|---:|---:|"]
    for streams, s in summary.items():
        lines.append(f"| {streams} | {s['ratio']} | {s['added_p50_ms']} | {s['added_p99_ms']} |")
    lines += ["", f"Targets (issue 5 §7): routed throughput >= {TARGET_RATIO}x direct, added p50 <= "
              f"{TARGET_ADDED_P50_MS} ms.", ""]
    for streams, s in summary.items():
        ok_r = (s["ratio"] or 0) >= TARGET_RATIO
        ok_l = s["added_p50_ms"] is not None and s["added_p50_ms"] <= TARGET_ADDED_P50_MS
        lines.append(f"- {streams} stream(s): ratio {s['ratio']} ({'met' if ok_r else 'NOT met'}), added p50 "
                     f"{s['added_p50_ms']} ms ({'met' if ok_l else 'NOT met'})")
    lines += ["", "Absolute numbers are noisy on a shared 2-CPU machine; compare within one run only.", ""]
    return lines
