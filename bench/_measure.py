"""Wall time and peak memory of one command (shared by the benchmarks).

Peak memory is the largest sum of RSS over the command's whole process tree, sampled
every 20 ms from /proc: a tool that spreads work over worker processes cannot look
smaller than it is (getrusage's children figure is the largest single process only).
It is also checked against that figure, which no sample can miss.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and all its descendants now."""
    parent, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry)
        parent[pid], rss[pid] = int(fields[1]), int(fields[21]) * PAGE
    total, stack = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measured(cmd: list[str], cwd: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process tree in MB, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0:3]} failed:\n{err[-2000:]}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if largest > before:  # getrusage keeps the largest child so far: only a new maximum is this one's
        peak = max(peak, largest * 1024)
    return wall, peak / 2**20, out
