#!/usr/bin/env python3
"""The hub client against a local server that follows the ModelScope protocol (hub_server.py).

usage: check_hub.py ZTUNE MODEL_DIR DATASET WORK_DIR

- `ztune login` with a wrong token fails with a clear message; with the right one it saves the token
  (mode 0600) for later commands;
- `ztune upload OWNER/DATA DATASET train/data.jsonl --repo-type dataset` creates the dataset repository and
  stores the file (sent as an LFS object) byte for byte;
- a 500 on the first commit and on the first LFS batch request is retried and the upload succeeds;
- `ztune export --adapters CKPT --push_to_hub true --hub_model_id OWNER/ADAPTER --hub_token T` creates a
  model repository holding the checkpoint's adapter, config and args.json (no optimizer shards), bytes
  equal; pushing again sends no LFS object twice (the hub has it: an interrupted upload resumes);
- `ztune sft --push_to_hub true` pushes the final checkpoint's adapter, and the token stays out of the run
  folder;
- a bad token with --push_to_hub fails naming the cause;
- the token appears in no output.
"""
import os
import stat
import subprocess
import sys
from pathlib import Path

import hub_server
from sft_run import run_sft_command

TOKEN = "zt-hub-token-4c81e9"


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    server = hub_server.start(TOKEN)
    state = server.state
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MODELSCOPE_DOMAIN=f"http://127.0.0.1:{server.server_address[1]}", HOME=str(home),
               OMP_NUM_THREADS="1")
    env.pop("MODELSCOPE_API_TOKEN", None)
    outputs, failures = [], []

    def ztune_run(*arguments):
        result = subprocess.run([ztune, *arguments], capture_output=True, text=True, env=env, timeout=300)
        outputs.append(result.stdout + result.stderr)
        return result

    bad = ztune_run("login", "--token", "wrong-token")
    if bad.returncode == 0 or "refused the token" not in bad.stderr:
        failures.append(f"a wrong login token was not refused clearly: {bad.stderr[-300:]}")
    good = ztune_run("login", "--token", TOKEN)
    saved = home / ".modelscope" / "credentials" / "ztune_token"
    if good.returncode != 0 or not saved.exists() or stat.S_IMODE(saved.stat().st_mode) != 0o600:
        failures.append(f"login did not save the token privately: {good.stderr[-300:]}")

    source = Path(dataset).read_bytes()
    state.fail_once = {("POST", "/api/v1/repos/datasets/zt-owner/chat-data/commit"),
                       ("POST", "/api/v1/repos/datasets/zt-owner/chat-data/info/lfs")}
    upload = ztune_run("upload", "zt-owner/chat-data", dataset, "train/data.jsonl", "--repo-type", "dataset")
    repo = state.repos.get(("dataset", "zt-owner/chat-data"))
    if upload.returncode != 0 or repo is None or repo["files"].get("train/data.jsonl") != source:
        failures.append(f"the dataset upload did not store the file: {upload.stderr[-600:]}")
    else:
        print(f"upload: dataset repository created, train/data.jsonl stored ({len(source)} bytes, equal)")
    retried = [r for r in state.requests if r[2] == 500]
    if len(retried) != 2 or "retrying" not in upload.stdout + upload.stderr:
        failures.append(f"the injected 500s were not retried ({retried})")

    run, _, _ = run_sft_command(ztune, work / "train", 1, [
        "--model", model, "--dataset", dataset, "--max_steps", "2", "--save_steps", "2", "--max_length", "256",
        "--report_to", "none"])
    ckpt = run / "checkpoint-2"
    push = ztune_run("export", "--adapters", str(ckpt), "--push_to_hub", "true", "--hub_model_id", "zt-owner/adapter",
                     "--hub_token", TOKEN)
    repo = state.repos.get(("model", "zt-owner/adapter"))
    expected = {"adapter_model.safetensors", "adapter_config.json", "args.json"}
    if push.returncode != 0 or repo is None or set(repo["files"]) != expected:
        failures.append(f"the adapter push stored {sorted(repo['files']) if repo else None}: {push.stderr[-600:]}")
    elif any(repo["files"][name] != (ckpt / name).read_bytes() for name in expected):
        failures.append("the pushed adapter files differ from the checkpoint's")
    else:
        print(f"push: model repository created with {sorted(expected)}, bytes equal")
    puts_before = sum(1 for r in state.requests if r[0] == "PUT")
    again = ztune_run("export", "--adapters", str(ckpt), "--push_to_hub", "true", "--hub_model_id", "zt-owner/adapter",
                      "--hub_token", TOKEN)
    puts_after = sum(1 for r in state.requests if r[0] == "PUT")
    if again.returncode != 0 or puts_after != puts_before or len(repo["commits"]) != 2:
        failures.append(f"a second push re-sent LFS objects ({puts_after - puts_before}) or failed: {again.stderr[-300:]}")
    else:
        print("second push: the hub had every LFS object, none sent again")
    trained = ztune_run("sft", "--model", model, "--dataset", dataset, "--max_steps", "2", "--max_length", "256",
                        "--report_to", "none", "--output_dir", str(work / "sft-push"), "--push_to_hub", "true",
                        "--hub_model_id", "zt-owner/sft-run", "--hub_token", TOKEN)
    repo = state.repos.get(("model", "zt-owner/sft-run"))
    if trained.returncode != 0 or repo is None or "adapter_model.safetensors" not in repo["files"]:
        failures.append(f"sft --push_to_hub did not push the final adapter: {trained.stderr[-500:]}")
    elif any(TOKEN.encode() in p.read_bytes() for p in (work / "sft-push").rglob("*") if p.is_file()):
        failures.append("the hub token was written into the sft run folder")
    else:
        print(f"sft --push_to_hub: the final checkpoint's {sorted(repo['files'])} pushed")
    denied = ztune_run("export", "--adapters", str(ckpt), "--push_to_hub", "true", "--hub_model_id", "zt-owner/x",
                       "--hub_token", "not-the-token")
    if denied.returncode == 0 or "the hub refused the token (HTTP 401" not in denied.stderr:
        failures.append(f"a bad token was not reported clearly: {denied.stderr[-300:]}")
    if any(TOKEN in text for text in outputs):
        failures.append("the token appears in a command's output")
    server.shutdown()
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
