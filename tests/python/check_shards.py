#!/usr/bin/env python3
"""Checks ztune_shard_probe's output from an mpirun: over each epoch the ranks together yield every
non-blank line of the dataset exactly once, and no two ranks read the same byte.

usage: check_shards.py DATASET.jsonl OUT_DIR WORLD_SIZE"""
import sys
from collections import Counter
from pathlib import Path


def main():
    dataset, out, world = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    lines = dataset.read_bytes().split(b"\n")
    expected = Counter(i + 1 for i, line in enumerate(lines) if line.strip())
    rows = {0: Counter(), 1: Counter()}
    ranges = {0: [], 1: []}
    index_bytes = 0
    for rank in range(world):
        for record in (out / f"rank-{rank}.txt").read_text().splitlines():
            fields = record.split("\t")
            if fields[0] == "row":
                rows[int(fields[1])][int(fields[2])] += 1
            elif fields[0] == "range":
                ranges[int(fields[1])].append((int(fields[2]), int(fields[3]), rank))
            else:
                index_bytes += int(fields[1])
    failures = []
    for epoch in (0, 1):
        if rows[epoch] != expected:
            failures.append(f"epoch {epoch}: rows differ from the dataset's lines "
                            f"(missing {len(expected - rows[epoch])}, extra {len(rows[epoch] - expected)})")
        spans = sorted(ranges[epoch])
        for (b0, e0, r0), (b1, e1, r1) in zip(spans, spans[1:]):
            if e0 > b1:
                failures.append(f"epoch {epoch}: ranks {r0} and {r1} both read bytes {b1}..{min(e0, e1)}")
        if sum(e - b for b, e, _ in spans) != dataset.stat().st_size:
            failures.append(f"epoch {epoch}: {sum(e - b for b, e, _ in spans)} bytes streamed, file has {dataset.stat().st_size}")
    # The index pass reads each chunk plus a little past its end (to finish its last line), never the file
    # once per chunk.
    if index_bytes > 1.5 * dataset.stat().st_size:
        failures.append(f"the index pass read {index_bytes} bytes of a {dataset.stat().st_size}-byte file")
    for failure in failures:
        print("FAIL:", failure)
    print(f"{world} ranks: {sum(expected.values())} rows per epoch, each once; index pass read {index_bytes} bytes "
          f"for a {dataset.stat().st_size}-byte file")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
