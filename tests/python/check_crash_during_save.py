#!/usr/bin/env python3
"""A crash while saving never costs the previous checkpoint, and a corrupted shard is caught.

usage: check_crash_during_save.py ZTUNE MODEL_DIR DATASET WORK_DIR [TRIALS]

Each trial trains with a checkpoint after every step and is killed with SIGKILL at a random moment
(seeded) shortly after a step's progress line, i.e. during or right after that step's save. Afterwards every checkpoint-N folder must be complete: the adapter loads with safetensors,
trainer_state.json parses, the manifest lists one shard per rank and each shard's CRC-32 (computed here
with zlib) matches it; `latest` is there whenever one of them is, and names one of them. Unfinished saves (and deletions of old
checkpoints by --save_total_limit) may only exist as hidden folders. The last trial's `latest` must resume in ztune. Then one byte of a shard
is flipped and resuming must fail with a message naming the shard and the checksum.
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from safetensors.numpy import load_file


def complete(checkpoint):
    """None when the checkpoint folder is complete and consistent, else what is wrong."""
    try:
        load_file(str(checkpoint / "adapter_model.safetensors"))
        json.loads((checkpoint / "trainer_state.json").read_text())
        json.loads((checkpoint / "adapter_config.json").read_text())
        manifest = json.loads((checkpoint / "zero_manifest.json").read_text())
    except Exception as error:  # noqa: BLE001 - any failure to read is the finding
        return f"unreadable: {error}"
    shards = manifest.get("shards", [])
    if len(shards) != manifest.get("world_size"):
        return f"manifest lists {len(shards)} shards for world size {manifest.get('world_size')}"
    for shard in shards:
        data = (checkpoint / shard["file"]).read_bytes()
        if f"{zlib.crc32(data):08x}" != shard["crc32"]:
            return f"{shard['file']}: CRC-32 {zlib.crc32(data):08x}, manifest {shard['crc32']}"
    return None


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    trials = int(sys.argv[5]) if len(sys.argv) > 5 else 12
    rng = random.Random(1234)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    failures, during_save, checked = [], 0, 0
    last_run = None
    for trial in range(trials):
        out = work / f"trial-{trial}"
        shutil.rmtree(out, ignore_errors=True)
        process = subprocess.Popen([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", "500",
                                    "--max_length", "256", "--packing", "true", "--gradient_accumulation_steps", "1",
                                    "--save_steps", "1", "--save_total_limit", "2", "--logging_steps", "1",
                                    "--output_dir", str(out)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        # The progress line of step K is printed just before its checkpoint is written: kill within the
        # next 40 ms, which lands inside the save about half the time and between saves otherwise.
        target = f"step {rng.randint(1, 6)}/"
        for line in process.stdout:
            if line.startswith(target):
                break
        time.sleep(rng.uniform(0.0, 0.04))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        runs = glob.glob(str(out / "v1-*"))
        if not runs:
            failures.append(f"trial {trial}: no run folder")
            continue
        run = Path(runs[0])
        last_run = run
        if glob.glob(str(run / ".checkpoint-*.tmp")):
            during_save += 1
        names = sorted(p.name for p in run.glob("checkpoint-*"))
        for name in names:
            checked += 1
            problem = complete(run / name)
            if problem:
                failures.append(f"trial {trial}: {name} is incomplete after the kill: {problem}")
        # `latest` comes with the first checkpoint: written just before it is renamed into place, so it may name a
        # folder not there yet only while there is no checkpoint at all.
        latest = (run / "latest").read_text().strip() if (run / "latest").exists() else None
        if names and latest is None:
            failures.append(f"trial {trial}: checkpoints {names} but no latest")
        if latest is not None and names and latest not in names:
            failures.append(f"trial {trial}: latest names {latest!r}, which is not a checkpoint ({names})")
    print(f"{trials} trials, {during_save} killed while a save was unfinished, {checked} checkpoints verified complete")
    if during_save == 0:
        failures.append("no trial was killed inside a save, so the case was not exercised")

    if last_run is not None and (last_run / "latest").exists() and \
            (last_run / (last_run / "latest").read_text().strip()).is_dir():
        source = last_run / (last_run / "latest").read_text().strip()
        step = int(source.name.split("-")[1])
        resumed = subprocess.run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(step + 1),
                                  "--max_length", "256", "--packing", "true", "--gradient_accumulation_steps", "1",
                                  "--resume_from_checkpoint", str(source), "--output_dir", str(work / "resumed")],
                                 capture_output=True, text=True, env=env)
        if resumed.returncode != 0:
            failures.append(f"resuming {source} failed:\n{resumed.stderr[-2000:]}")
        corrupt = work / "corrupt"
        shutil.rmtree(corrupt, ignore_errors=True)
        shutil.copytree(source, corrupt)
        shard = corrupt / "zero_rank_00000.h5"
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0x40
        shard.write_bytes(bytes(data))
        bad = subprocess.run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(step + 1),
                              "--resume_from_checkpoint", str(corrupt), "--output_dir", str(work / "bad")],
                             capture_output=True, text=True, env=env)
        if bad.returncode == 0 or "zero_rank_00000.h5: corrupt" not in bad.stderr or "manifest" not in bad.stderr:
            failures.append(f"a flipped byte in a shard was not reported by name:\n{bad.stderr[-1500:]}")
        else:
            print("corrupted shard reported:", [l for l in bad.stderr.splitlines() if "corrupt" in l][0][:200])
    else:
        failures.append("the last trial left no checkpoint to resume (kill too early?)")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
