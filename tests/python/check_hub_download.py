#!/usr/bin/env python3
"""Hub ids download, as ms-swift downloads them, against the local hub (hub_server.py).

usage: check_hub_download.py ZTUNE MODEL_DIR DATASET WORK_DIR

The fixture model and the sample data are put on the stand-in hub as repositories (a dotted model name, a
dataset with a subset folder); every case starts from an empty cache unless it says otherwise:
- ModelScope (the default): `sft --model OWNER/Tiny-Qwen2.5 --dataset OWNER/chat-data:extra#40` downloads both
  into ModelScope's layout (models/OWNER/Tiny-Qwen2___5, datasets/OWNER/chat-data) with bytes equal to the
  repository's, one GET per file, and the modelscope SDK finds the model offline (local_files_only); a second
  run makes no request at all;
- a connection dropped in the middle of a file is resumed with a ranged request;
- a process killed with SIGKILL in the middle of a file: the next run resumes the file from its partial bytes;
- a file that arrives corrupted (sha256, and git's sha1 for a Hugging Face file outside LFS) is fetched again;
  one that never arrives whole ends the run with exit 1 naming the file;
- `--use_hf true`: Hugging Face's layout (blobs, snapshots/COMMIT symlinks, refs/main; the tree listing read
  over several pages) that huggingface_hub and transformers read offline;
- `--model_revision v1.0` asks the hub for that revision (ModelScope's Revision, Hugging Face's refs/v1.0); a cached
  folder at another revision is listed again (its files, already in place, are not fetched again);
- a private repository: refused without a token (exit 2, saying how to pass one), downloaded with --hub_token,
  and the token in no output and no file;
- MODELSCOPE_OFFLINE=1 and an empty cache: the error of an offline machine, and no request;
- two ranks on one node (mpirun): each file is downloaded once;
- `infer --adapters OWNER/ADAPTER` downloads an adapter repository and answers.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hub_server

TOKEN = "zt-download-token-91f3c2"
OWNER = "zt-owner"


def files_of(folder):
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main():
    ztune, model, dataset, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    server = hub_server.start(TOKEN)
    state = server.state
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    model_files = files_of(model)
    data = dataset.read_bytes()
    data_files = {"train.jsonl": data, "extra/extra.jsonl": data, "README.md": b"# chat data\n"}
    hub_server.add_repo(state, "model", f"{OWNER}/Tiny-Qwen2.5", model_files)
    hub_server.add_repo(state, "model", f"{OWNER}/Private-Qwen", model_files, private=True)
    hub_server.add_repo(state, "dataset", f"{OWNER}/chat-data", data_files)
    failures = []
    outputs = []
    cache_number = [0]

    def fresh_env(**extra):
        cache_number[0] += 1
        root = work / f"cache{cache_number[0]}"
        env = dict(os.environ, MODELSCOPE_DOMAIN=endpoint, HF_ENDPOINT=endpoint, MODELSCOPE_CACHE=str(root / "ms"),
                   HF_HUB_CACHE=str(root / "hf"), HOME=str(root / "home"), OMP_NUM_THREADS="1",
                   OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        for name in ("MODELSCOPE_API_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE"):
            env.pop(name, None)
        env.update(extra)
        return root, env

    def sft_command(name, *arguments):
        return [ztune, "sft", *arguments, "--max_steps", "1", "--max_length", "256", "--save_steps", "1",
                "--output_dir", str(work / "out" / name)]

    def run(command, env, timeout=300):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        outputs.append(result.stdout + result.stderr)
        return result

    def served(name):
        with state.lock:
            return [entry for entry in state.served if entry[1] == name]

    def check(condition, message):
        if not condition:
            failures.append(message)
        return condition

    model_id, data_spec = f"{OWNER}/Tiny-Qwen2.5", f"{OWNER}/chat-data:extra#40"
    shard = next(name for name in sorted(model_files) if name.endswith(".safetensors"))

    # ---- ModelScope: a model and a dataset id ----
    root, env = fresh_env()
    result = run(sft_command("ms", "--model", model_id, "--dataset", data_spec), env)
    folder = root / "ms" / "models" / OWNER / "Tiny-Qwen2___5"
    if check(result.returncode == 0, f"ModelScope download + sft: exit {result.returncode}: {result.stderr[-1500:]}"):
        got = {k: v for k, v in files_of(folder).items() if not k.startswith(".")}
        check(got == model_files, f"the downloaded model differs from the repository: {sorted(got)} vs {sorted(model_files)}")
        check(files_of(root / "ms" / "datasets" / OWNER / "chat-data").get("extra/extra.jsonl") == data,
              "the downloaded dataset file differs")
        check("rows read 40," in result.stdout + result.stderr, "the subset's 40 rows were not read")
        counts = {name: len(served(name)) for name in list(model_files) + list(data_files)}
        check(all(count == 1 for count in counts.values()), f"each file should be fetched once: {counts}")
        check((root / "ms" / "models" / OWNER / "Tiny-Qwen2.5").resolve() == folder.resolve(),
              "no Tiny-Qwen2.5 link to the escaped folder (the SDK makes one)")
        probe = subprocess.run([sys.executable, "-c", "import sys\nfrom modelscope import snapshot_download\n"
                                "print(snapshot_download(sys.argv[1], local_files_only=True))", model_id],
                               capture_output=True, text=True, env=env, timeout=300)
        found = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else ""
        check(probe.returncode == 0 and Path(found).resolve() == folder.resolve(),
              f"the modelscope SDK does not find the download offline: {found!r} {probe.stderr[-600:]}")
        print("modelscope: model and dataset downloaded, one GET per file; the modelscope SDK reads the cache")
        before = (len(state.requests), len(state.served))
        again = run(sft_command("ms-again", "--model", model_id, "--dataset", data_spec), env)
        check(again.returncode == 0 and (len(state.requests), len(state.served)) == before,
              f"a cached id went to the hub again (exit {again.returncode}): {again.stderr[-600:]}")
        print("modelscope: a second run uses the cache without a request")

    # ---- --model_revision ----
    root, env = fresh_env()
    result = run(sft_command("rev", "--model", model_id, "--model_revision", "v1.0", "--dataset", str(dataset)), env)
    mv = root / "ms" / "models" / OWNER / "Tiny-Qwen2___5" / ".mv"
    if check(result.returncode == 0 and mv.exists() and mv.read_text().startswith("Revision:v1.0,"),
             f"--model_revision v1.0: exit {result.returncode}, .mv {mv.read_text() if mv.exists() else None}: "
             f"{result.stderr[-800:]}"):
        check(any("/repo/files?Revision=v1.0" in q for q in state.queries), "the file list was not asked at revision v1.0")
        requests, files = len(state.requests), len(state.served)
        again = run(sft_command("rev-same", "--model", model_id, "--model_revision", "v1.0", "--dataset", str(dataset)), env)
        check(again.returncode == 0 and len(state.requests) == requests, "the same revision, cached, went to the hub again")
        other = run(sft_command("rev-master", "--model", model_id, "--model_revision", "master", "--dataset", str(dataset)), env)
        check(other.returncode == 0 and mv.read_text().startswith("Revision:master,") and len(state.requests) > requests
              and len(state.served) == files,
              f"another revision should be listed again without fetching files already in place: {other.stderr[-600:]}")
    root, env = fresh_env()
    result = run(sft_command("rev-hf", "--model", model_id, "--model_revision", "v1.0", "--use_hf", "true", "--dataset",
                             str(dataset)), env)
    ref = root / "hf" / "models--zt-owner--Tiny-Qwen2.5" / "refs" / "v1.0"
    check(result.returncode == 0 and ref.exists() and ref.read_text() == hub_server.COMMIT,
          f"--model_revision v1.0 --use_hf true: exit {result.returncode}: {result.stderr[-800:]}")
    print("--model_revision: asked at that revision (ModelScope and Hugging Face); another revision listed again")

    # ---- a dropped connection, resumed with a range ----
    root, env = fresh_env()
    state.cut_once = {shard}
    result = run(sft_command("cut", "--model", model_id, "--dataset", str(dataset)), env)
    ranges = [entry[2] for entry in served(shard)][-2:]
    if check(result.returncode == 0, f"a dropped connection was not survived: {result.stderr[-1500:]}"):
        resumed = [r for r in ranges if r.startswith("bytes=") and not r.startswith("bytes=0-")]
        check(bool(resumed), f"the dropped file was not resumed with a range: {ranges}")
        check(files_of(root / "ms" / "models" / OWNER / "Tiny-Qwen2___5").get(shard) == model_files[shard],
              "the resumed file differs")
        print(f"dropped connection: resumed with {resumed[:1]}")

    # ---- a killed process, resumed by the next run ----
    root, env = fresh_env()
    state.rate = 400_000
    partial = root / "ms" / "models" / "._____temp" / OWNER / "Tiny-Qwen2.5" / shard
    process = subprocess.Popen(sft_command("killed", "--model", model_id, "--dataset", str(dataset)), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or partial.stat().st_size < 200_000):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    state.rate = None
    kept = partial.stat().st_size if partial.exists() else 0
    result = run(sft_command("killed-again", "--model", model_id, "--dataset", str(dataset)), env)
    last = served(shard)[-1] if served(shard) else ("", "", "", 0)
    if check(result.returncode == 0 and kept > 0, f"after SIGKILL (partial {kept} bytes): exit {result.returncode}: "
                                                  f"{result.stderr[-1500:]}"):
        start = int(last[2][6:].split("-")[0]) if last[2].startswith("bytes=") else 0
        check(start > 0 and start <= kept and last[3] == len(model_files[shard]) - start,
              f"the killed download was not resumed from its {kept} partial bytes: {last}")
        check(files_of(root / "ms" / "models" / OWNER / "Tiny-Qwen2___5") .get(shard) == model_files[shard],
              "the file resumed after SIGKILL differs")
        print(f"killed mid-file: {kept} bytes kept, the next run asked for {last[2]}")

    # ---- corrupted files ----
    root, env = fresh_env()
    state.corrupt = {"config.json": 1}
    result = run(sft_command("corrupt", "--model", model_id, "--dataset", str(dataset)), env)
    check(result.returncode == 0 and "config.json does not match" in result.stdout + result.stderr,
          f"a corrupted file was not detected and fetched again: {result.stderr[-1500:]}")
    root, env = fresh_env()
    state.corrupt = {"config.json": 10}
    result = run(sft_command("corrupt-always", "--model", model_id, "--dataset", str(dataset)), env)
    check(result.returncode == 1 and "config.json arrived 3 times with other bytes" in result.stderr,
          f"a file that never arrives whole should end the run with exit 1 naming it: {result.returncode} {result.stderr[-800:]}")
    state.corrupt = {}
    print("corruption: detected by sha256, fetched again; persistent corruption is exit 1 naming the file")

    # ---- Hugging Face ----
    root, env = fresh_env()
    state.corrupt = {"config.json": 1}  # a file outside LFS: checked by git's blob sha1
    result = run(sft_command("hf", "--model", model_id, "--dataset", data_spec, "--use_hf", "true"), env)
    state.corrupt = {}
    repo = root / "hf" / "models--zt-owner--Tiny-Qwen2.5"
    if check(result.returncode == 0, f"--use_hf download + sft: exit {result.returncode}: {result.stderr[-1500:]}"):
        snapshot = repo / "snapshots" / hub_server.COMMIT
        check((repo / "refs" / "main").read_text() == hub_server.COMMIT, "refs/main does not name the commit")
        check(files_of(snapshot) == model_files, "the Hugging Face snapshot differs from the repository")
        check(all((snapshot / name).is_symlink() and not os.path.isabs(os.readlink(snapshot / name)) for name in model_files),
              "snapshot files are not relative links into blobs/")
        check(sorted(p.name for p in (repo / "blobs").iterdir()) == sorted(
            hashlib.sha256(b).hexdigest() if n.endswith(hub_server.LFS_SUFFIXES) else hub_server.git_blob_sha1(b)
            for n, b in model_files.items()), "blobs/ is not named by the hub's etags")
        check("config.json does not match the hub's git sha1" in result.stdout + result.stderr,
              "a corrupted non-LFS file was not caught by its git sha1")
        probe = subprocess.run([sys.executable, "-c", "import sys\nfrom huggingface_hub import snapshot_download\n"
                                "from transformers import AutoConfig\n"
                                "print(AutoConfig.from_pretrained(sys.argv[1]).model_type)\n"
                                "print(snapshot_download(sys.argv[1]))", model_id],
                               capture_output=True, text=True, env=dict(env, HF_HUB_OFFLINE="1"), timeout=300)
        lines = probe.stdout.strip().splitlines()
        check(probe.returncode == 0 and len(lines) == 2 and Path(lines[1]) == snapshot,
              f"huggingface_hub/transformers do not read the download offline: {probe.stdout} {probe.stderr[-600:]}")
        check(files_of(root / "hf" / "datasets--zt-owner--chat-data" / "snapshots" / hub_server.COMMIT).get(
            "extra/extra.jsonl") == data, "the Hugging Face dataset download differs")
        print("huggingface: blobs, snapshot links, refs/main; huggingface_hub and transformers read it offline")

    # ---- a private repository and the token ----
    root, env = fresh_env()
    private = f"{OWNER}/Private-Qwen"
    result = run(sft_command("private-none", "--model", private, "--dataset", str(dataset)), env)
    check(result.returncode == 2 and "refused access" in result.stderr and "--hub_token" in result.stderr,
          f"a private repository without a token should be refused saying how to pass one: {result.returncode} "
          f"{result.stderr[-600:]}")
    result = run(sft_command("private", "--model", private, "--dataset", str(dataset), "--hub_token", TOKEN), env)
    check(result.returncode == 0, f"a private repository with --hub_token: {result.stderr[-1000:]}")
    root, env = fresh_env(MODELSCOPE_API_TOKEN=TOKEN)
    result = run(sft_command("private-env", "--model", private, "--dataset", str(dataset), "--use_hf", "false"), env)
    check(result.returncode == 0, f"a private repository with MODELSCOPE_API_TOKEN: {result.stderr[-1000:]}")
    root, env = fresh_env(HF_TOKEN=TOKEN)
    result = run(sft_command("private-hf", "--model", private, "--dataset", str(dataset), "--use_hf", "true"), env)
    check(result.returncode == 0, f"a private repository with HF_TOKEN: {result.stderr[-1000:]}")
    print("private repository: refused without a token; --hub_token, MODELSCOPE_API_TOKEN and HF_TOKEN work")

    # ---- offline ----
    root, env = fresh_env(MODELSCOPE_OFFLINE="1")
    before = (len(state.requests), len(state.served))
    result = run(sft_command("offline", "--model", model_id, "--dataset", str(dataset)), env)
    check(result.returncode == 2 and "not in the ModelScope cache" in result.stderr and "downloads are off" in result.stderr
          and (len(state.requests), len(state.served)) == before,
          f"offline: expected the cache error and no request: {result.returncode} {result.stderr[-600:]}")
    print("offline: the cache error, no request")

    # ---- two ranks on one node ----
    root, env = fresh_env()
    with state.lock:
        state.served.clear()
    result = run(["mpirun", "--oversubscribe", "-np", "2"] +
                 sft_command("two-ranks", "--model", model_id, "--dataset", data_spec), env, timeout=600)
    if check(result.returncode == 0, f"two ranks: exit {result.returncode}: {result.stderr[-1500:]}"):
        counts = {name: len(served(name)) for name in list(model_files) + list(data_files)}
        check(all(count == 1 for count in counts.values()), f"two ranks on one node fetched files twice: {counts}")
        print("two ranks on one node: each file fetched once")

    # ---- an adapter repository ----
    checkpoint = next((work / "out" / "ms").glob("v*/checkpoint-1"), None)
    if check(checkpoint is not None, "the first run left no checkpoint-1"):
        adapter = {k: v for k, v in files_of(checkpoint).items() if k.startswith("adapter_") or k == "args.json"}
        hub_server.add_repo(state, "model", f"{OWNER}/tiny-adapter", adapter)
        root, env = fresh_env()
        result = subprocess.run([ztune, "infer", "--adapters", f"{OWNER}/tiny-adapter", "--max_new_tokens", "4",
                                 "--temperature", "0", "--stream", "false"], input="hello\n", capture_output=True,
                                text=True, env=env, timeout=300)
        outputs.append(result.stdout + result.stderr)
        check(result.returncode == 0 and (root / "ms" / "models" / OWNER / "tiny-adapter" / "adapter_config.json").exists(),
              f"infer --adapters with a hub id: exit {result.returncode}: {result.stderr[-1000:]}")
        print("infer --adapters OWNER/ADAPTER: downloaded and answered")

    # ---- the token stays secret ----
    leaked = [i for i, text in enumerate(outputs) if TOKEN in text]
    check(not leaked, f"the token appears in the output of runs {leaked}")
    for path in work.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 50_000_000 and TOKEN.encode() in path.read_bytes():
            failures.append(f"the token was written to {path}")
    server.shutdown()
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
