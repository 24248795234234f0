"""Shared bits of the bench scripts: machine description, output as a JSON line plus a table."""

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

from testbed import DEV_SETS, SHARED_QA


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dev_sets() -> list[Path]:
    if not SHARED_QA.is_dir():
        sys.exit(f"bench: {SHARED_QA} is not here; the dev sets live in ../shared/data/qa")
    return [SHARED_QA / name for name in DEV_SETS]


def report(name: str, rows: list[dict], **extra) -> None:
    """Print a JSON line (for machines) and a table (for people)."""
    record = {"bench": name, "machine": machine(), **extra, "rows": rows}
    print(json.dumps(record, ensure_ascii=False))
    if not rows:
        return
    columns = list(rows[0])
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print()
    print(
        f"{name} — {record['machine']['cores']} cores, {record['machine']['cpu']}, {record['machine']['date']}"
    )
    print("  ".join(c.ljust(width[c]) for c in columns))
    print("  ".join("-" * width[c] for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(width[c]) for c in columns))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
