#!/usr/bin/env python3
"""`--report_to swanlab`, checked with SwanLab's own SDK.

usage: check_swanlab.py ZTUNE MODEL_DIR DATASET WORK_DIR SWANLAB_PYTHON
(SWANLAB_PYTHON: a Python with requirements-swanlab.txt, which ztune runs its sidecar in through ZTUNE_PYTHON)

1. offline (with tensorboard) and local: the run's records, read back with the SDK's reader (the one
   `swanlab sync` uses), hold every scalar of logging.jsonl at its step, value for value (train/loss,
   train/grad_norm, train/learning_rate, train/token_acc, train/epoch, train/global_step, tokens/s, memory;
   eval/loss, eval/token_acc, eval/runtime, eval/*_per_second), nothing else but SwanLab's own system
   metrics; the project and experiment name as given; the run finished; the config is the run's arguments.
   local: the local dashboard's database (runs.swanlab) is written. report_to swanlab alone: no TensorBoard.
2. cloud, against tests/python/swanlab_server.py on 127.0.0.1 (a request never leaves the machine): the key
   from --swanlab_token is checked by the server; the scalars it receives equal logging.jsonl; the run's state
   is FINISHED. A wrong key (from SWANLAB_API_KEY): the run trains to the end, with one warning.
3. A service that stops answering uploads: training is not slowed; the end waits at most
   ZTUNE_SWANLAB_FINISH_TIMEOUT, warns, and the records stay on disk.
4. A Python without the SDK: ztune stops at start-up with one line naming the pip command; nothing trained.
5. As right after set-up: no ZTUNE_PYTHON, python3 on PATH without the SDK, run from another folder: ztune finds
   the .venv-swanlab set-up made beside its source tree from its own location, and the offline run is written.
The key must not reach any file, the console, or a command line (checked while the runs go on).
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from secret_watch import CommandLineWatch
from swanlab_server import SwanLabServer

TOKEN = "zt-swanlab-key-6b1e07"
READER = r"""
import json, sys
from pathlib import Path
from google.protobuf.json_format import MessageToDict
from swanlab.proto.swanlab.record.v1.record_pb2 import Record
from swanlab.sdk.internal.core_python.store import DataStoreReader
records = sorted(Path(sys.argv[1]).glob("run-*/run-*.swanlab"))
assert len(records) == 1, records
reader = DataStoreReader()
reader.open(records[0])
out = {"scalars": [], "start": None, "finish": None}
for raw in reader:
    record = Record()
    record.ParseFromString(raw)
    if record.HasField("scalar"):
        out["scalars"].append([record.scalar.key, record.scalar.step, record.scalar.value.number])
    elif record.HasField("start"):
        out["start"] = MessageToDict(record.start)
    elif record.HasField("finish"):
        out["finish"] = MessageToDict(record.finish)
reader.close()
print(json.dumps(out))
"""
TRAIN_KEYS = {"train/loss": "loss", "train/grad_norm": "grad_norm", "train/learning_rate": "learning_rate",
              "train/token_acc": "token_acc", "train/epoch": "epoch", "train/tokens_per_second": "tokens/s",
              "train/memory(GiB)": "memory(GiB)"}
EVAL_KEYS = {"eval/loss": "eval_loss", "eval/token_acc": "eval_token_acc", "eval/runtime": "eval_runtime",
             "eval/samples_per_second": "eval_samples_per_second", "eval/steps_per_second": "eval_steps_per_second"}
failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}")


def sft(ztune, model, dataset, out, python, extra, env_extra=None, steps=6):
    env = dict(os.environ, ZTUNE_PYTHON=python, OMP_NUM_THREADS="1", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    env.pop("SWANLAB_API_KEY", None)
    env.update(env_extra or {})
    command = [ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(steps), "--logging_steps", "1",
               "--save_steps", str(steps), "--eval_steps", "3", "--split_dataset_ratio", "0.1", "--max_length", "256",
               "--output_dir", str(out), "--add_version", "false", "--swanlab_project", "zt-test",
               "--swanlab_exp_name", f"exp-{out.name}"] + extra
    shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    return done, time.monotonic() - start


def logged(run):
    """logging.jsonl as {key: {step: value}} under SwanLab's names."""
    expected = {}
    for line in (run / "logging.jsonl").read_text().splitlines():
        entry = json.loads(line)
        step = int(entry["global_step/max_steps"].split("/")[0])
        keys = EVAL_KEYS if "eval_loss" in entry else dict(TRAIN_KEYS, **{"train/global_step": None})
        for key, name in keys.items():
            expected.setdefault(key, {})[step] = step if name is None else entry[name]
    return expected


def compare(name, received, expected):
    """received: (key, step, value) triples (SwanLab's system metrics left out)."""
    got = {}
    for key, step, value in received:
        if key.startswith("__swanlab__"):
            continue
        got.setdefault(key, {})[int(step)] = value
    if sorted(got) != sorted(expected):
        fail(f"{name}: keys {sorted(got)} instead of {sorted(expected)}")
        return
    count, worst = 0, 0.0
    for key, steps in expected.items():
        if sorted(got[key]) != sorted(steps):
            fail(f"{name}: {key} at steps {sorted(got[key])} instead of {sorted(steps)}")
            continue
        for step, value in steps.items():
            count += 1
            if float(got[key][step]) != float(value):
                worst = max(worst, abs(float(got[key][step]) - float(value)))
                fail(f"{name}: {key} at step {step} is {got[key][step]}, logging.jsonl has {value}")
    print(f"ok: {name}: {count} scalars over {len(expected)} keys equal logging.jsonl step by step")


def read_records(python, run):
    done = subprocess.run([python, "-c", READER, str(run / "swanlog")], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        fail(f"reading {run}/swanlog with the SDK: {done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout)


def check_done(name, done, out):
    if done.returncode != 0 or not (out / "checkpoint-6" / "adapter_model.safetensors").is_file():
        fail(f"{name}: ztune sft exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return False
    return True


def check_secret(name, done, out):
    for path in out.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            fail(f"{name}: {path} contains the SwanLab key")
    if TOKEN in done.stdout or TOKEN in done.stderr:
        fail(f"{name}: the console output contains the SwanLab key")


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    ztune, model, dataset, work, python = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5]
    work.mkdir(parents=True, exist_ok=True)
    watch = CommandLineWatch([TOKEN])
    timings = {}

    # 1. offline (+ tensorboard) and local
    for mode, report in (("offline", ["tensorboard", "swanlab"]), ("local", ["swanlab"])):
        out = work / mode
        done, timings[mode] = sft(ztune, model, dataset, out, python,
                                  ["--report_to", *report, "--swanlab_mode", mode, "--swanlab_token", TOKEN])
        if not check_done(mode, done, out):
            continue
        check_secret(mode, done, out)
        records = read_records(python, out)
        if records is None:
            continue
        compare(f"{mode} (read back with the SDK)", records["scalars"], logged(out))
        start = records["start"] or {}
        if start.get("project") != "zt-test" or start.get("name") != f"exp-{mode}":
            fail(f"{mode}: the run's start record is {start}")
        if "FINISHED" not in json.dumps(records["finish"]):
            fail(f"{mode}: the run did not finish: {records['finish']}")
        config = next(out.glob("swanlog/run-*/files/config.yaml"), None)
        if config is None or "learning_rate" not in config.read_text() or model not in config.read_text():
            fail(f"{mode}: the SwanLab config does not hold the run's arguments ({config})")
        if (out / "runs").is_dir() != ("tensorboard" in report):
            fail(f"{mode}: --report_to {' '.join(report)}, and runs/ {'is missing' if 'tensorboard' in report else 'was written'}")
        if mode == "local" and not (out / "swanlog" / "runs.swanlab").is_file():
            fail("local: the dashboard's database swanlog/runs.swanlab was not written")
        print(f"ok: {mode}: project, name, finished state, config; runs/ {'written' if 'tensorboard' in report else 'not written'}"
              + ("; the local dashboard's database written" if mode == "local" else ""))

    # 2. cloud against the stand-in service; a wrong key
    with SwanLabServer(TOKEN) as server:
        hosts = {"SWANLAB_API_HOST": server.url, "SWANLAB_WEB_HOST": server.url}
        out = work / "cloud"
        done, timings["cloud"] = sft(ztune, model, dataset, out, python,
                                     ["--report_to", "swanlab", "--swanlab_mode", "cloud", "--swanlab_token", TOKEN], hosts)
        if check_done("cloud", done, out):
            check_secret("cloud", done, out)
            compare("cloud (received by the service)", [(m["key"], m["index"], m["data"]) for m in server.scalars],
                    logged(out))
            if server.states != ["FINISHED"]:
                fail(f"cloud: the run's states {server.states}, not FINISHED")
            if TOKEN in json.dumps(server.configs) or not server.configs:
                fail("cloud: the config sent holds the key, or no config was sent")
            print(f"ok: cloud: {len(server.experiments)} run, state {server.states}, config without the key")
        rejected = server.rejected_logins
        out = work / "cloud-wrong-key"
        done, _ = sft(ztune, model, dataset, out, python, ["--report_to", "swanlab", "--swanlab_mode", "cloud"],
                      dict(hosts, SWANLAB_API_KEY="zt-not-the-key"))
        if check_done("wrong key", done, out):
            warnings = [line for line in (done.stdout + done.stderr).splitlines() if "SwanLab: the run could not start" in line]
            if server.rejected_logins <= rejected or len(warnings) != 1:
                fail(f"wrong key: {server.rejected_logins - rejected} logins refused, warnings {warnings}")
            else:
                print(f"ok: wrong key: trained to the end, one warning: {warnings[0].strip()[:160]}")

    # 3. a service that stops answering uploads
    with SwanLabServer(TOKEN, stall_uploads=True) as server:
        out = work / "cloud-stalled"
        done, took = sft(ztune, model, dataset, out, python,
                         ["--report_to", "swanlab", "--swanlab_mode", "cloud", "--swanlab_token", TOKEN],
                         {"SWANLAB_API_HOST": server.url, "SWANLAB_WEB_HOST": server.url,
                          "ZTUNE_SWANLAB_FINISH_TIMEOUT": "5"})
        if check_done("stalled service", done, out):
            check_secret("stalled service", done, out)
            warned = "did not finish within 5 s" in done.stdout + done.stderr
            train_seconds, reference = (
                [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()
                 if "train_speed(s/it)" in line][-1]["train_speed(s/it)"] for run in (out, work / "offline"))
            if not warned or took > timings["offline"] + 40:
                fail(f"stalled service: {took:.1f} s (offline {timings['offline']:.1f} s), warning {warned}")
            else:
                print(f"ok: stalled service: {took:.1f} s in all (offline run {timings['offline']:.1f} s), "
                      f"{train_seconds:.3f} s/step (offline {reference:.3f}), the end gave up after 5 s with a warning")
            if next(out.glob("swanlog/run-*/run-*.swanlab"), None) is None:
                fail("stalled service: no records kept on disk")

    # 4. a Python without the SDK
    bare = "/usr/bin/python3"
    if subprocess.run([bare, "-c", "import swanlab"], capture_output=True).returncode == 0:
        fail(f"{bare} has swanlab; the no-SDK case needs a Python without it")
    else:
        out = work / "no-sdk"
        done, _ = sft(ztune, model, dataset, out, bare, ["--report_to", "swanlab", "--swanlab_mode", "offline"])
        lines = [line for line in (done.stdout + done.stderr).splitlines() if "pip install 'swanlab[dashboard]==" in line]
        if done.returncode == 0 or len(lines) != 1 or "No module named 'swanlab'" not in lines[0] \
                or any(out.glob("checkpoint-*")) or "step 1/" in done.stdout:
            fail(f"no SDK: exit {done.returncode}, lines {lines}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        else:
            print(f"ok: no SDK: exit {done.returncode} before training: {lines[0].strip()[:220]}")

    # 5. Right after set-up, as the README tells it: no ZTUNE_PYTHON, python3 on PATH without the SDK, another working
    # folder: ztune finds the .venv-swanlab that scripts/setup.sh made beside its source, from its own location.
    out = work / "found"
    shutil.rmtree(out, ignore_errors=True)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("ZTUNE_PYTHON", "SWANLAB_API_KEY", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([str(Path(ztune).resolve()), "sft", "--model", str(Path(model).resolve()), "--dataset",
                           str(Path(dataset).resolve()), "--max_steps", "2", "--logging_steps", "1", "--max_length", "256",
                           "--output_dir", str(out), "--add_version", "false", "--report_to", "swanlab",
                           "--swanlab_mode", "offline", "--swanlab_project", "zt-test"],
                          capture_output=True, text=True, env=env, cwd=elsewhere, timeout=900)
    if done.returncode != 0 or next(out.glob("swanlog/run-*/run-*.swanlab"), None) is None:
        fail(f"set-up's SwanLab environment not found from another folder without ZTUNE_PYTHON: exit {done.returncode}\n"
             f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    else:
        print("ok: --report_to swanlab from another folder, no ZTUNE_PYTHON: set-up's .venv-swanlab found and used")

    watch.close()
    if watch.hits:
        fail(f"the key was on a command line: {watch.hits[:3]}")
    else:
        print(f"ok: no command line held the key ({watch.scans} scans of every process during the runs)")
    if failures:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
