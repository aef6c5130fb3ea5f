#!/usr/bin/env python3
"""safetensors interoperability between ztune (C++) and the Python `safetensors` package.

  write-reference DIR   Python writes files for the C++ reader to check:
                          DIR/python_written.safetensors  one tensor per dtype, special values included
                          DIR/python_sharded/             an index and two shards
                          DIR/expected/<tensor>.bin        the raw little-endian bytes of each tensor
                          DIR/manifest.json                name -> dtype, shape
                          DIR/bad/*.safetensors + bad/cases.json   malformed files, each breaking one rule,
                                                                   with a phrase the error must contain
  check-cpp DIR         Python loads what the C++ writer produced (DIR/cpp_written.safetensors,
                        DIR/cpp_sharded/, DIR/cpp_expected/*.bin, DIR/cpp_manifest.json) and compares bytes.
Exit status is non-zero on any mismatch.
"""

import json
import struct
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def raw_bytes(tensor):
    """Little-endian bytes of a tensor, whatever its dtype (bf16 has no numpy twin, so view as int16)."""
    tensor = tensor.contiguous()
    if tensor.numel() == 0:
        return b""
    return tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.dtype != torch.bool else \
        tensor.to(torch.uint8).numpy().tobytes()


def reference_tensors():
    generator = torch.Generator().manual_seed(7)
    floats = torch.randn(3, 5, generator=generator)
    special = torch.tensor([float("nan"), float("inf"), float("-inf"), -0.0, 1e-40, 65504.0, 3.0e38, -1.5])
    tensors = {}
    for name, dtype in DTYPES.items():
        if dtype.is_floating_point:
            tensors[f"values.{name}"] = floats.to(dtype)
            tensors[f"special.{name}"] = special.to(dtype)
        elif dtype == torch.bool:
            tensors[f"values.{name}"] = torch.rand(4, 3, generator=generator) > 0.5
        else:
            info = torch.iinfo(dtype)
            tensors[f"values.{name}"] = torch.tensor([info.min, info.max, 0, 1, -1 if info.min < 0 else 2, 17],
                                                     dtype=dtype).reshape(2, 3)
    tensors["scalar.F32"] = torch.tensor(2.5)
    tensors["empty.F32"] = torch.zeros(0, 3)
    tensors["model.layers.0.self_attn.q_proj.weight"] = torch.randn(8, 4, generator=generator).to(torch.bfloat16)
    return tensors


def write_entry_file(path, header, data=b"", pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def write_bad_cases(bad_dir):
    """Each file breaks one rule of the format; the value is a phrase ztune's error must contain."""
    bad_dir.mkdir(parents=True, exist_ok=True)
    cases = {}

    def case(name, expect, header=None, data=b"", raw=None, pad=True):
        path = bad_dir / f"{name}.safetensors"
        if raw is not None:
            path.write_bytes(raw)
        else:
            write_entry_file(path, header, data, pad)
        cases[path.name] = expect

    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    case("empty_file", "too short", raw=b"")
    case("five_bytes", "too short", raw=b"\x10\x00\x00\x00\x00")
    case("huge_header", "exceeds the 100 MB limit", raw=struct.pack("<Q", 200_000_000) + b"{}")
    case("header_past_end", "runs past the end of the file", raw=struct.pack("<Q", 64) + b'{"a":1}')
    case("not_json_start", "does not start with '{'", raw=struct.pack("<Q", 8) + b"[1,2,3] ")
    bad_utf8 = b'{"t\xff\xfe":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    case("invalid_utf8", "not valid UTF-8", raw=struct.pack("<Q", len(bad_utf8)) + bad_utf8)
    broken = b'{"t":{"dtype":"F32",'
    case("invalid_json", "not valid JSON", raw=struct.pack("<Q", len(broken)) + broken)
    case("unknown_dtype", "unknown dtype 'F33'", {"t": {**f32, "dtype": "F33"}}, b"\0" * 8)
    case("size_mismatch", "need 12", {"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
    case("hole", "hole in data", {"a": f32, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, b"\0" * 20)
    case("overlap", "overlapping data", {"a": f32, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
         b"\0" * 12)
    case("not_starting_at_zero", "hole in data", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
         b"\0" * 16)
    case("trailing_bytes", "trailing bytes", {"a": f32}, b"\0" * 12)
    case("truncated_data", "runs past the end of the file", {"a": {"dtype": "F32", "shape": [4],
                                                                   "data_offsets": [0, 16]}}, b"\0" * 10)
    case("begin_after_end", "begin 8 > end 0", {"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}}, b"\0" * 8)
    case("negative_shape", "shape entries must be non-negative integers",
         {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8)
    dup = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
    case("duplicate_name", "appears twice", raw=struct.pack("<Q", len(dup)) + dup + b"\0\0")
    case("metadata_not_string", "__metadata__ value for 'format' is not a string",
         {"__metadata__": {"format": 1}, "a": f32}, b"\0" * 8)
    deep = b'{"a":' + b"[" * 64 + b"]" * 64 + b"}"
    case("deep_nesting", "nested too deeply", raw=struct.pack("<Q", len(deep)) + deep)
    case("shape_overflow", "shape is too large",
         {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, b"\0" * 8)
    case("offsets_wrong_length", "data_offsets must be [begin, end]",
         {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, b"\0" * 8)
    case("unexpected_key", "unexpected key 'extra'", {"a": {**f32, "extra": 1}}, b"\0" * 8)
    case("missing_dtype", "missing or non-string dtype", {"a": {"shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    case("float_offsets", "data_offsets must be non-negative integers",
         {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8.5]}}, b"\0" * 8)
    case("entry_not_object", "entry is not an object", {"a": [1, 2]}, b"")
    (bad_dir / "cases.json").write_text(json.dumps(cases, indent=2, sort_keys=True) + "\n")
    return cases


def write_reference(out):
    out.mkdir(parents=True, exist_ok=True)
    tensors = reference_tensors()
    save_file(tensors, str(out / "python_written.safetensors"), metadata={"format": "pt", "writer": "python"})
    expected = out / "expected"
    expected.mkdir(exist_ok=True)
    manifest = {}
    for name, tensor in tensors.items():
        (expected / f"{name}.bin").write_bytes(raw_bytes(tensor))
        dtype = next(key for key, value in DTYPES.items() if value == tensor.dtype)
        manifest[name] = {"dtype": dtype, "shape": list(tensor.shape)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    # A two-shard checkpoint with its index, the layout transformers writes.
    sharded = out / "python_sharded"
    sharded.mkdir(exist_ok=True)
    names = sorted(tensors)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, half in enumerate(halves):
        file = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({name: tensors[name] for name in half}, str(sharded / file), metadata={"format": "pt"})
        weight_map.update({name: file for name in half})
    total = sum(len(raw_bytes(t)) for t in tensors.values())
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    cases = write_bad_cases(out / "bad")
    print(f"wrote {len(tensors)} reference tensors and {len(cases)} malformed files to {out}")


def check_cpp(out):
    manifest = json.loads((out / "cpp_manifest.json").read_text())
    failures = []

    def compare(loaded, source):
        for name, entry in manifest.items():
            if name not in loaded:
                failures.append(f"{source}: missing {name}")
                continue
            tensor = loaded[name]
            if tensor.dtype != DTYPES[entry["dtype"]]:
                failures.append(f"{source}: {name} dtype {tensor.dtype}, expected {entry['dtype']}")
            if list(tensor.shape) != entry["shape"]:
                failures.append(f"{source}: {name} shape {list(tensor.shape)}, expected {entry['shape']}")
            if raw_bytes(tensor) != (out / "cpp_expected" / f"{name}.bin").read_bytes():
                failures.append(f"{source}: {name} bytes differ")
        extra = set(loaded) - set(manifest)
        if extra:
            failures.append(f"{source}: unexpected tensors {sorted(extra)}")

    single = out / "cpp_written.safetensors"
    compare(load_file(str(single)), single.name)
    with safe_open(str(single), framework="pt") as handle:
        if handle.metadata() != {"format": "pt", "writer": "ztune"}:
            failures.append(f"metadata {handle.metadata()}")
    header_length = struct.unpack("<Q", single.read_bytes()[:8])[0]
    if header_length % 8:
        failures.append(f"header length {header_length} is not padded to 8")

    index = json.loads((out / "cpp_sharded" / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    if len(files) < 2:
        failures.append(f"expected several shards, got {files}")
    loaded = {}
    for file in files:
        loaded.update(load_file(str(out / "cpp_sharded" / file)))
    compare(loaded, "cpp_sharded")
    if index["metadata"]["total_size"] != sum(len(raw_bytes(t)) for t in loaded.values()):
        failures.append("index total_size does not match the tensors")

    for failure in failures:
        print("FAIL:", failure)
    if failures:
        sys.exit(1)
    print(f"python safetensors read {len(manifest)} tensors written by ztune bit-exactly (single file and sharded)")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write-reference", "check-cpp"):
        sys.exit(__doc__)
    out = Path(sys.argv[2])
    if sys.argv[1] == "write-reference":
        write_reference(out)
    else:
        check_cpp(out)


if __name__ == "__main__":
    main()
