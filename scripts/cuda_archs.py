#!/usr/bin/env python3
"""The GPU code a binary carries: "sass sm_80 sm_90 ptx sm_90" (what `cuobjdump --list-elf/--list-ptx` lists),
read from its .nv_fatbin section, so that scripts/gpu_bundle.sh can say it where the CUDA toolkit has no
cuobjdump.

usage: cuda_archs.py BINARY

A fat binary is a run of containers (magic 0xBA55ED50, a 16-byte header, then `size` bytes of entries); each
entry starts with its kind (1 PTX, 2 ELF/SASS), its header size, its payload size and, at byte 28 of that
header, the SM version (90 for sm_90).
"""
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

MAGIC = 0xBA55ED50


def fatbin_section(binary):
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "fatbin"
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", binary, str(out)], check=True,
                       capture_output=True)
        return out.read_bytes() if out.exists() else b""


def entries(data):
    offset = 0
    while offset + 16 <= len(data):
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", data, offset)
        if magic != MAGIC:  # containers are 8-byte aligned; skip padding
            offset += 8
            continue
        position, end = offset + header_size, offset + header_size + size
        while position + 32 <= end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, position)
            sm = struct.unpack_from("<I", data, position + 28)[0]
            yield kind, sm
            if entry_header == 0:
                break
            position += entry_header + payload
        offset = end


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sass, ptx = set(), set()
    for kind, sm in entries(fatbin_section(sys.argv[1])):
        (ptx if kind == 1 else sass if kind == 2 else set()).add(sm)
    print("sass " + " ".join(f"sm_{v}" for v in sorted(sass)) + " ptx " + " ".join(f"sm_{v}" for v in sorted(ptx)))


if __name__ == "__main__":
    main()
