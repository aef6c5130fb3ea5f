#!/usr/bin/env python3
"""Expert parallelism against ZeRO-3 data parallelism, whole `ztune sft` runs on the same ranks (issue 31's
ms-swift experiment, on this machine).

usage: bench/bench_expert_parallel.py [--build build] [--ranks 2] [--steps 8] [--launcher mpirun|nodes]

--launcher nodes runs the ranks on two namespace "nodes" (tests/cluster/nodes.sh: each its own network stack,
joined by a veth bridge, so MPI talks TCP between them), half on each, through launch/mpirun/ztune-mpirun:
bench/bench_expert_parallel_nodes.sh brings the nodes up, runs this, and takes them down (root).

The random Qwen3-MoE-shaped model of bench/bench_moe.py (hidden 512, 8 layers, 32 experts of 352, top-4, vocab
32,000, fp32; 180M parameters, 138M of them in the experts) with the fixtures' Qwen tokenizer, LoRA r 8 on q/k/v/o
and the experts (--lora_dropout 0), the bundled sample data packed to 1,024 tokens, one micro-batch per step per
rank, gradient checkpointing. Two runs of --steps steps on --ranks ranks under mpirun, one thread per rank:
- `--deepspeed zero3` (what DeepSpeed users run for MoE models: every layer's weights, experts included, are
  gathered for the forward and again for the recompute);
- `--deepspeed zero2 --expert_model_parallel_size RANKS` (each rank holds 1/RANKS of the experts, tokens travel).
Reported: steady tokens/s (the median of the logged steps after the first), the peak the CPU allocator saw on
any rank during step 1 (estimate.json), the largest resident memory logged, and for EP the all-to-all bytes
and seconds per step that the run prints.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_moe  # noqa: E402  (the same model)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def launcher(kind, ranks):
    if kind == "mpirun":
        return ["mpirun", "--oversubscribe", "-np", str(ranks)]
    cluster = ROOT / "tests" / "cluster"
    if not os.environ.get("ZT_CLUSTER_ID"):
        sys.exit("--launcher nodes: run bench/bench_expert_parallel_nodes.sh, which brings the nodes up")
    per_node = ranks // 2
    return [str(cluster / "enter.sh"), "node1", str(ROOT / "launch" / "mpirun" / "ztune-mpirun"), "--mca",
            "plm_rsh_agent", str(cluster / "rsh_agent.sh"), "-H", f"node1:{per_node},node2:{per_node}", "-n", str(ranks)]


def run(build, model, out, ranks, steps, extra, kind="mpirun"):
    command = launcher(kind, ranks) + [str(Path(build) / "ztune"), "sft", "--model", str(model),
               "--dataset", str(ROOT / "data" / "sample" / "sharegpt_seed.jsonl"), "--max_steps", str(steps),
               "--packing", "true", "--max_length", "1024", "--per_device_train_batch_size", "1",
               "--gradient_accumulation_steps", "1", "--lora_dropout", "0", "--target_modules", *TARGETS,
               "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--output_dir", str(out), *extra]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    folder = next(Path(out).glob("v1-*"))
    logs = [json.loads(line) for line in (folder / "logging.jsonl").read_text().splitlines() if '"tokens/s"' in line]
    measured = json.loads((folder / "estimate.json").read_text())["measured"]["ranks"]
    exchange = re.search(r"expert parallelism on rank 0: (.*)", done.stdout + done.stderr)
    return {"tokens_per_second": statistics.median(e["tokens/s"] for e in logs[1:]),
            "peak_step1_mib": max(r["peak_bytes"] for r in measured) / 2**20,
            "memory_gib": max(e["memory(GiB)"] for e in logs),
            "exchange": exchange.group(1) if exchange else ""}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--launcher", choices=["mpirun", "nodes"], default="mpirun")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = bench_moe.write_models(tmp)["moe"]
        for file in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(ROOT / "tests" / "fixtures" / "out" / "qwen3" / file, Path(model) / file)
        zero3 = run(args.build, model, Path(tmp) / "zero3", args.ranks, args.steps, ["--deepspeed", "zero3"],
                    args.launcher)
        ep = run(args.build, model, Path(tmp) / "ep", args.ranks, args.steps,
                 ["--deepspeed", "zero2", "--expert_model_parallel_size", str(args.ranks)], args.launcher)
    where = "over 2 namespace nodes" if args.launcher == "nodes" else "on one machine"
    print(f"| {args.ranks} ranks {where} | tokens/s | peak in step 1, any rank (MiB) | largest memory logged (GiB) |")
    print("| --- | --- | --- | --- |")
    for name, result in (("ZeRO-3 data parallel", zero3), (f"EP {args.ranks} + ZeRO-2", ep)):
        print(f"| {name} | {result['tokens_per_second']:.0f} | {result['peak_step1_mib']:.0f} | {result['memory_gib']:.2f} |")
    print(f"\nEP / ZeRO-3: tokens/s {ep['tokens_per_second'] / zero3['tokens_per_second']:.2f}x, step-1 peak "
          f"{ep['peak_step1_mib'] / zero3['peak_step1_mib']:.2f}x, logged memory {ep['memory_gib'] / zero3['memory_gib']:.2f}x"
          f"\nall-to-all: {ep['exchange']}")


if __name__ == "__main__":
    main()
