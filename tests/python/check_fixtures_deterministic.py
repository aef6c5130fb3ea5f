#!/usr/bin/env python3
"""Regenerates the fixtures into a temporary folder and checks every file equals the cached copy byte for byte."""
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def files_under(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def main():
    cached = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fixtures"
        subprocess.run([sys.executable, str(ROOT / "tests/fixtures/make_fixtures.py"), "--out", str(fresh), "--force"],
                       check=True)
        left, right = files_under(cached), files_under(fresh)
        if left != right:
            sys.exit(f"FAIL: file lists differ: only cached {set(left) - set(right)}, only fresh {set(right) - set(left)}")
        differing = [str(p) for p in left if not filecmp.cmp(cached / p, fresh / p, shallow=False)]
        if differing:
            sys.exit(f"FAIL: regenerated fixtures differ: {differing}")
        print(f"fixtures are deterministic: {len(left)} files identical")


if __name__ == "__main__":
    main()
