"""What a user sees when the environment, not ztune, fails: one line naming the path and what to do, exit
code 1 (environment) or 2 (bad input), never the internal-bug banner (exit 70), and no earlier work lost.

- an output folder that cannot be created (/proc, and a path under a regular file);
- the output folder on a file system that fills up during a checkpoint save (a small tmpfs mounted for
  the test): the run ends with exit 1 naming the file, the earlier checkpoint is whole (ztune export
  consolidates it, checksums verified) and `latest` still names it;
- a model folder whose safetensors file is truncated;
- a --dataset that is a folder;
- --model given as a path that does not exist: the path is named once, with no cache lookup.

usage: check_env_failures.py ZTUNE FIXTURES_DIR SAMPLE_JSONL WORK_DIR
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

BUG_BANNER = "internal check failed"


def run(command, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def expect(failures, name, code, output, want_code, must_contain):
    if code != want_code:
        failures.append(f"{name}: exit {code}, expected {want_code}\n{output[-1500:]}")
    if BUG_BANNER in output:
        failures.append(f"{name}: the internal-bug banner was printed\n{output[-1500:]}")
    for text in must_contain:
        if text not in output:
            failures.append(f"{name}: the output does not name {text!r}\n{output[-1500:]}")
    if "\x1b[" in output:
        failures.append(f"{name}: colour codes in output that is not a terminal")


def du(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main():
    ztune, fixtures, sample, work = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = fixtures / "qwen2-tied"
    train = [ztune, "sft", "--model", model, "--dataset", sample, "--max_length", "256", "--packing", "true",
             "--gradient_accumulation_steps", "1", "--logging_steps", "1", "--report_to", "none"]
    failures = []

    # 1. Output folders that cannot be made.
    code, output = run(train + ["--max_steps", "1", "--output_dir", "/proc/ztune-no-such-folder"])
    expect(failures, "--output_dir under /proc", code, output, 1, ["/proc/ztune-no-such-folder"])
    blocker = work / "a-file"
    blocker.write_text("not a folder\n")
    code, output = run(train + ["--max_steps", "1", "--output_dir", blocker / "out"])
    expect(failures, "--output_dir under a file", code, output, 1, [str(blocker)])

    # 2. A file system that fills up during the second checkpoint. First measure one checkpoint and
    # the rest of the run folder on the ordinary disk, then give the tmpfs room for the run and 1.5
    # checkpoints.
    measure = work / "measure"
    code, output = run(train + ["--max_steps", "4", "--save_steps", "2", "--output_dir", measure])
    if code != 0:
        sys.exit(f"FAIL: the measuring run failed ({code})\n{output[-3000:]}")
    run_dir = next(measure.glob("v1-*"))
    checkpoint_bytes = du(run_dir / "checkpoint-2")
    rest_bytes = du(run_dir) - du(run_dir / "checkpoint-2") - du(run_dir / "checkpoint-4")
    size = (rest_bytes + int(1.5 * checkpoint_bytes)) // 4096 * 4096 + 8 * 4096
    mount = work / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        sys.exit(f"FAIL: cannot mount a tmpfs for the full-disk case (root is needed): {mounted.stderr}")
    try:
        code, output = run(train + ["--max_steps", "4", "--save_steps", "2", "--output_dir", mount / "out"])
        expect(failures, "full file system during a save", code, output, 1, [str(mount), "space"])
        runs = list((mount / "out").glob("v1-*"))
        if len(runs) != 1:
            failures.append(f"full file system: expected one run folder, found {runs}")
        else:
            run_dir = runs[0]
            latest = (run_dir / "latest").read_text().strip() if (run_dir / "latest").exists() else None
            if latest != "checkpoint-2":
                failures.append(f"full file system: latest names {latest!r}, expected 'checkpoint-2'")
            if (run_dir / "checkpoint-4").exists():
                failures.append("full file system: a checkpoint-4 folder exists although its save failed")
            exported = work / "exported"
            code, output = run([ztune, "export", "--adapters", run_dir / "checkpoint-2", "--to_peft", exported])
            if code != 0 or not (exported / "adapter_model.safetensors").exists():
                failures.append(f"full file system: checkpoint-2 does not consolidate ({code})\n{output[-1500:]}")
        print(f"full-disk case: tmpfs of {size} bytes, a checkpoint is {checkpoint_bytes} bytes")
    finally:
        subprocess.run(["umount", str(mount)])

    # 3. A truncated safetensors file in the model folder.
    broken = work / "broken-model"
    shutil.copytree(model, broken)
    weights = broken / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    code, output = run([ztune, "sft", "--model", broken, "--dataset", sample, "--max_steps", "1",
                        "--output_dir", work / "out-broken"])
    expect(failures, "truncated safetensors", code, output, 2, [str(weights)])

    # 4. A dataset path that is a folder.
    folder = work / "a-folder"
    folder.mkdir()
    code, output = run(train + ["--max_steps", "1", "--dataset", folder, "--output_dir", work / "out-folder"])
    expect(failures, "--dataset a folder", code, output, 2, [str(folder), "is a folder"])

    # 5. --model as a path that does not exist: named once, no cache list.
    code, output = run([ztune, "sft", "--model", "/nonexistent/model", "--dataset", sample, "--max_steps", "1"])
    expect(failures, "--model /nonexistent/model", code, output, 2, ["/nonexistent/model: no such folder"])
    if output.count("/nonexistent/model") != 1:
        failures.append(f"--model /nonexistent/model: the path appears {output.count('/nonexistent/model')} times\n{output}")

    for failure in failures:
        print("FAIL:", failure)
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
