#!/usr/bin/env python3
"""Hub ids resolve from the local caches, without the network (check_hub_download.py covers downloads).

usage: check_hub_cache.py ZTUNE MODEL_DIR DATASET WORK_DIR

Builds a ModelScope cache ($MODELSCOPE_CACHE: models/ORG/NAME, the older hub/ORG/NAME___5 spelling of a
name with a dot, datasets/ORG/NAME with files) and a Hugging Face cache ($HF_HUB_CACHE:
models--ORG--NAME/snapshots/REV with refs/main) around the fixture model and sample data, then requires:
- `--model ORG/NAME --dataset ORG/DATA` trains from the ModelScope cache, also with the old spelling;
- `--use_hf true` takes both from the Hugging Face cache;
- `--dataset ORG/DATA:subset` picks the subset's file;
- an id in neither cache, with downloads off (MODELSCOPE_OFFLINE, HF_HUB_OFFLINE), fails with a message
  naming the id and every place looked in.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    ms, hf = work / "modelscope", work / "huggingface"
    (ms / "models" / "zt-test").mkdir(parents=True)
    os.symlink(os.path.abspath(model), ms / "models" / "zt-test" / "Tiny-Qwen")
    (ms / "zt-test").mkdir(parents=True)
    os.symlink(os.path.abspath(model), ms / "zt-test" / "Tiny-Qwen2___5")
    data_dir = ms / "datasets" / "zt-test" / "chat"
    (data_dir / "extra").mkdir(parents=True)
    shutil.copy(dataset, data_dir / "train.jsonl")
    shutil.copy(dataset, data_dir / "extra" / "extra.jsonl")
    snapshot = hf / "models--zt-test--Tiny-Qwen" / "snapshots" / "0123abcd"
    snapshot.parent.mkdir(parents=True)
    os.symlink(os.path.abspath(model), snapshot)
    (hf / "models--zt-test--Tiny-Qwen" / "refs").mkdir()
    (hf / "models--zt-test--Tiny-Qwen" / "refs" / "main").write_text("0123abcd")
    hf_data = hf / "datasets--zt-test--chat" / "snapshots" / "feed"
    hf_data.mkdir(parents=True)
    shutil.copy(dataset, hf_data / "data.jsonl")
    env = dict(os.environ, MODELSCOPE_CACHE=str(ms), HF_HUB_CACHE=str(hf), OMP_NUM_THREADS="1", MODELSCOPE_OFFLINE="1",
               HF_HUB_OFFLINE="1")

    def sft(name, *arguments):
        return subprocess.run([ztune, "sft", *arguments, "--max_steps", "1", "--max_length", "256",
                               "--output_dir", str(work / "out" / name)], capture_output=True, text=True, env=env)

    failures = []
    cases = [("modelscope", ["--model", "zt-test/Tiny-Qwen", "--dataset", "zt-test/chat"], 600),
             ("old spelling", ["--model", "zt-test/Tiny-Qwen2.5", "--dataset", "zt-test/chat:extra#40"], 40),
             ("subset", ["--model", "zt-test/Tiny-Qwen", "--dataset", "zt-test/chat:extra"], 300),
             ("huggingface", ["--model", "zt-test/Tiny-Qwen", "--dataset", "zt-test/chat", "--use_hf", "true"], 300)]
    for name, arguments, rows in cases:
        result = sft(name, *arguments)
        if result.returncode != 0:
            failures.append(f"{name}: exit {result.returncode}: {result.stderr[-800:]}")
        elif f"rows read {rows}," not in result.stdout + result.stderr:
            failures.append(f"{name}: expected {rows} rows read:\n{(result.stdout + result.stderr)[-800:]}")
        else:
            print(f"{name}: trained from the cache ({rows} rows)")
    missing = sft("missing model", "--model", "zt-test/Absent", "--dataset", dataset)
    looked = [str(ms / "models" / "zt-test" / "Absent"), str(ms / "zt-test" / "Absent")]
    if missing.returncode == 0 or "--model zt-test/Absent" not in missing.stderr or not all(p in missing.stderr for p in looked):
        failures.append(f"a missing model id is not reported with the places looked in: {missing.stderr[-600:]}")
    missing = sft("missing dataset", "--model", model, "--dataset", "zt-test/absent-data")
    if missing.returncode == 0 or "--dataset zt-test/absent-data" not in missing.stderr or \
            str(ms / "datasets" / "zt-test" / "absent-data") not in missing.stderr:
        failures.append(f"a missing dataset id is not reported with the places looked in: {missing.stderr[-600:]}")
    missing = sft("missing hf", "--model", "zt-test/Absent", "--dataset", dataset, "--use_hf", "true")
    if missing.returncode == 0 or str(hf / "models--zt-test--Absent") not in missing.stderr:
        failures.append(f"a missing model id with --use_hf does not name the Hugging Face cache: {missing.stderr[-600:]}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
