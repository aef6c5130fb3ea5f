#!/usr/bin/env python3
"""Secrets never reach files or logs.

usage: check_secrets.py ZTUNE MODEL_DIR DATASET WORK_DIR SWANLAB_PYTHON

Trains with a SwanLab key given as a flag (--swanlab_token) and through a config file, and with the
hub and SwanLab tokens in the environment (MODELSCOPE_API_TOKEN, SWANLAB_API_KEY), on two ranks, reporting to
TensorBoard and to SwanLab (offline: the SDK in SWANLAB_PYTHON, ztune's sidecar, writes its records under the
run folder). No file under the output folder (args.json, checkpoints, logs, TensorBoard events, SwanLab's
records, config and metadata), nothing on stdout or stderr, and no process's command line while the runs go
on (the sidecar's included) may contain any of the secrets.
"""
import json
import os
import sys
from pathlib import Path

from secret_watch import CommandLineWatch
from sft_run import run_sft_command

SECRETS = ["zt-flag-secret-5f1d2c", "zt-config-secret-81aa0b", "zt-env-hub-secret-33c9e1", "zt-env-swan-secret-7d02fa"]


def main():
    ztune, model, dataset, work, swanlab_python = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5]
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MODELSCOPE_API_TOKEN"] = SECRETS[2]
    os.environ["SWANLAB_API_KEY"] = SECRETS[3]
    os.environ["ZTUNE_PYTHON"] = swanlab_python
    watch = CommandLineWatch(SECRETS)
    failures = []
    config = work / "config.json"
    config.write_text(json.dumps({"swanlab_token": SECRETS[1], "swanlab_project": "p"}))
    for name, arguments in (("flag", ["--swanlab_token", SECRETS[0]]), ("config file", [str(config)])):
        out = work / name.replace(" ", "-")
        common = ["--model", model, "--dataset", dataset, "--max_steps", "3", "--max_length", "256",
                  "--save_steps", "2", "--logging_steps", "1", "--deepspeed", "zero3", "--split_dataset_ratio", "0.1",
                  "--report_to", "tensorboard", "swanlab", "--swanlab_mode", "offline"]
        # A config file comes first on the command line (ms-swift's rule); a flag goes anywhere.
        command = arguments + common if name == "config file" else common + arguments
        run, stdout, stderr = run_sft_command(ztune, out, 2, command)
        if not (run / "checkpoint-3").is_dir():
            failures.append(f"{name}: the run did not finish")
        if not list(run.glob("swanlog/run-*/run-*.swanlab")):
            failures.append(f"{name}: no SwanLab records under {run}/swanlog")
        files = [p for p in out.rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            for secret in SECRETS:
                if secret.encode() in data:
                    failures.append(f"{name}: {path} contains a secret")
        for secret in SECRETS:
            if secret in stdout or secret in stderr:
                failures.append(f"{name}: the console output contains a secret")
        args = json.loads((run / "args.json").read_text())
        if "swanlab_token" in args and args["swanlab_token"] not in (None, ""):
            failures.append(f"{name}: args.json keeps swanlab_token as {args['swanlab_token']!r}")
        print(f"{name}: {len(files)} files and the console output hold none of the {len(SECRETS)} secrets")
    hits = watch.close()
    if hits:
        failures.append(f"command lines held a secret: {hits[:3]}")
    print(f"no process's command line held a secret ({watch.scans} scans during the runs)")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
