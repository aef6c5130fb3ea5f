#!/usr/bin/env python3
"""Writes tests/measured_times.cmake from the times ctest measured (BUILD/Testing/Temporary/CTestCostData.txt).

usage: measured_times.py BUILD_DIR [--machine TEXT]

Run it after a whole `ctest -j 2` on the 2-core CI-class VM and commit the result. tests/tests.cmake reads the file:
each test's seconds become its COST, so a fresh clone (which has no CTestCostData.txt yet) starts the long tests
first and the short ones fill the cores around them, and every test of 15 s or more carries the `slow` label.
Tests the file does not name (new ones) get neither until the file is written again.
"""
import argparse
import datetime
import sys
from pathlib import Path

SLOW_S = 15.0
HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--machine", default="the 2-core development VM, ctest -j 2")
    args = parser.parse_args()
    cost_file = Path(args.build) / "Testing" / "Temporary" / "CTestCostData.txt"
    if not cost_file.is_file():
        sys.exit(f"{cost_file}: not there; run the whole suite with ctest first")
    times = {}
    for line in cost_file.read_text().splitlines():
        if line.strip() == "---":
            break  # the failed tests follow
        name, _runs, seconds = line.rsplit(" ", 2)
        # gtest cases are registered at test time (gtest_discover_tests), not by tests.cmake: left out.
        if "." in name or "/" in name:
            continue
        times[name] = float(seconds)
    if not times:
        sys.exit(f"{cost_file}: no test times in it")
    lines = [
        "# Seconds each test took, measured on " + args.machine + ", " + datetime.date.today().isoformat() + ".",
        "# Written by tests/measured_times.py from build/Testing/Temporary/CTestCostData.txt; read by tests.cmake",
        "# (COST: the long ones start first on a fresh clone; 15 s or more: the `slow` label). Write it again after",
        "# adding tests or changing a long one.",
        "set(ZTUNE_MEASURED_TIMES",
    ]
    for name, seconds in sorted(times.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {name} {seconds:.1f}")
    lines.append(")")
    out = HERE / "measured_times.cmake"
    out.write_text("\n".join(lines) + "\n")
    slow = sum(1 for s in times.values() if s >= SLOW_S)
    print(f"{out}: {len(times)} tests, {slow} of {SLOW_S:.0f} s or more, {sum(times.values()):.0f} s in all")


if __name__ == "__main__":
    main()
