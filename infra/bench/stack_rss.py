#!/usr/bin/env python3
"""Resident memory of the local stack: `cargo lambda watch` (PID) and every process
under it (the functions it started, and the `cargo` runs in between).

    infra/bench/stack_rss.py PID

Prints one line per process (VmRSS from /proc/PID/status) and the totals: the
whole tree, and the function processes alone (every process but watch itself).
"""

import os
import sys


def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"


def main():
    root = int(sys.argv[1])
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack += children(pid)
    total = functions = 0
    for pid in sorted(tree):
        kib, cmd = rss_kib(pid), name(pid)
        total += kib
        is_function = pid != root
        functions += kib if is_function else 0
        print(f"{pid:8} {kib / 1024:9.1f} MiB  {'fn ' if is_function else '   '}{os.path.basename(cmd)}")
    print(f"functions: {len(tree) - 1} processes, {functions / 1024:.1f} MiB")
    print(f"whole tree: {len(tree)} processes, {total / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
