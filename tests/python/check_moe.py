#!/usr/bin/env python3
"""Mixture-of-experts models end to end, as a user runs them (issue 31): `ztune sft`, `ztune infer`, `ztune export`
and ms-swift's adapters, on the Qwen3-MoE and Qwen2-MoE fixtures (folders written by transformers'
save_pretrained: experts stored one matrix per expert).

usage: check_moe.py ZTUNE FIXTURES_DIR DATASET WORK_DIR

Per fixture:
- `ztune sft` (8 steps, packing, --lora_dropout 0, --router_aux_loss_coef 0.01, all-linear) writes a checkpoint whose
  adapter_config.json has the targets ms-swift + PEFT give the model (Qwen3-MoE: attention as modules, the experts
  as target_parameters with gate_up_proj at twice the rank; Qwen2-MoE: the linear modules, shared expert included);
- `ztune infer` with that checkpoint, and with a random PEFT adapter (init_lora_weights=False, the experts
  adapted through target_parameters), answers 10 prompts greedily exactly as transformers + peft generate;
- `ztune export --merge_lora true` of the random adapter writes a folder transformers loads as the same class, and
  its greedy replies are PEFT's.
On Qwen3-MoE, `swift sft` (2 steps, --lora_dropout 0) writes an adapter that `ztune infer` reads and answers with
as PEFT does. The other way, on both fixtures: `swift infer --adapters CKPT` on a ztune checkpoint (2 steps, the
experts adapted where ms-swift adapts them) gives ztune infer's replies, and `swift export --merge_lora true` the
weights `ztune export --merge_lora true` writes (fp32, 1e-6). The evaluation loss carries the load-balancing loss as ms-swift's does: with the learning rate at 0,
the eval loss with --router_aux_loss_coef 1 exceeds the one with 0 by the load-balancing loss, which lies between
0 and num_experts x top-k.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from check_infer import MAX_NEW, infer_batch, reference_replies
from check_swift_interchange import merged_weights
from sft_run import run_sft_command

EXPECTED = {
    "qwen3-moe": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                  "target_parameters": ["gate_up_proj", "down_proj"], "rank_pattern": {".*\\.gate_up_proj": 16}},
    "qwen2-moe": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                     "shared_expert_gate"], "target_parameters": None, "rank_pattern": {}},
}
# The random adapters: ms-swift's all-linear list, and Qwen2-MoE's routed experts named as parameters.
RANDOM_TARGETS = {
    "qwen3-moe": (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], None),
    "qwen2-moe": (["q_proj", "v_proj", "shared_expert_gate"], ["gate_up_proj", "down_proj"]),
}


def random_adapter(model, out, name):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(5)
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    modules, parameters = RANDOM_TARGETS[name]
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=modules, target_parameters=parameters)
    peft_model = get_peft_model(base, config)
    with torch.no_grad():  # PEFT's random init leaves B small; larger B makes the experts' adapters matter
        for param_name, param in peft_model.named_parameters():
            if "lora_B" in param_name:
                param.normal_(0.0, 0.2)
    peft_model.save_pretrained(out)


def merged_replies(folder, prompts):
    """Greedy replies of a merged folder in transformers alone (no peft), encoded as reference_replies does."""
    from transformers import AutoConfig
    architecture = AutoConfig.from_pretrained(folder).architectures[0]
    if architecture not in ("Qwen3MoeForCausalLM", "Qwen2MoeForCausalLM"):
        sys.exit(f"FAIL: {folder} is a {architecture}")
    return reference_replies(folder, None, prompts, 4)


def swift_adapter(model, dataset, out):
    swift = Path(sys.executable).parent / "swift"
    command = [str(swift), "sft", "--model", str(model), "--dataset", str(dataset), "--max_steps", "2",
               "--save_steps", "2", "--max_length", "256", "--output_dir", str(out), "--report_to", "none",
               "--torch_dtype", "float32", "--dataloader_num_workers", "0", "--split_dataset_ratio", "0",
               "--template", "qwen2_5", "--lora_dropout", "0", "--learning_rate", "5e-2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    if done.returncode != 0:
        sys.exit(f"FAIL: swift sft on {model} exited {done.returncode}: {done.stderr[-2000:]}")
    return sorted(out.glob("v*/checkpoint-2"))[-1]


def compare(failures, label, results, expected):
    differing = [i for i, (r, e) in enumerate(zip(results, expected)) if r["response"] != e]
    print(f"{label}: {len(results)} replies, {len(results) - len(differing)} equal to transformers + peft; "
          f"first: {results[0]['response'][:40]!r}")
    if len(results) != len(expected) or differing:
        failures.append(f"{label}: replies differ at rows {differing}: "
                        f"{[(results[i]['response'], expected[i]) for i in differing[:2]]}")


def main():
    ztune, fixtures, dataset, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    failures = []
    rows = [json.loads(line) for line in dataset.read_text().splitlines()[:10]]
    val = work / "val.jsonl"
    val.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("qwen3-moe", "qwen2-moe"):
        model = str(fixtures / name)
        run, _, _ = run_sft_command(ztune, work / f"train-{name}", 1, [
            "--model", model, "--dataset", str(dataset), "--max_steps", "8", "--save_steps", "8",
            "--max_length", "256", "--packing", "true", "--gradient_accumulation_steps", "2", "--learning_rate", "5e-3",
            "--lora_dropout", "0", "--router_aux_loss_coef", "0.01", "--report_to", "none"])
        ckpt = run / "checkpoint-8"
        config = json.loads((ckpt / "adapter_config.json").read_text())
        for key, value in EXPECTED[name].items():
            if config.get(key) != value:
                failures.append(f"{name}: adapter_config.json {key} is {config.get(key)}, ms-swift + PEFT give {value}")
        losses = [json.loads(line)["loss"] for line in (run / "logging.jsonl").read_text().splitlines()
                  if '"loss"' in line and "global_step/max_steps" in line]
        if not losses or not all(l == l for l in losses):
            failures.append(f"{name}: no finite losses logged: {losses}")

        adapter = work / f"random-{name}"
        random_adapter(model, adapter, name)
        for label, path, extra in (("trained checkpoint", ckpt, []), ("random adapter", adapter, ["--model", model])):
            results = infer_batch(ztune, ["--adapters", str(path)] + extra, val, work / f"result-{name}-{path.name}.jsonl")
            expected = reference_replies(model, path, [r["messages"] for r in results], 4)
            compare(failures, f"{name} infer, {label}", results, expected)
            if label == "random adapter":
                if len({r["response"] for r in results}) < 3:
                    failures.append(f"{name}: the random adapter's replies are too uniform to test anything")
                merged = work / f"merged-{name}"
                done = subprocess.run([ztune, "export", "--adapters", str(path), "--model", model, "--merge_lora", "true",
                                       "--output_dir", str(merged), "--exist_ok", "true"], capture_output=True, text=True)
                if done.returncode != 0:
                    failures.append(f"{name}: ztune export --merge_lora failed: {done.stderr[-1000:]}")
                    continue
                got = merged_replies(str(merged), [r["messages"] for r in results])
                same = sum(g == e for g, e in zip(got, expected))
                print(f"{name} merged export in transformers: {same} of {len(expected)} replies equal PEFT's")
                if got != expected:
                    failures.append(f"{name}: the merged folder answers otherwise in transformers: {got[:2]} vs {expected[:2]}")

    # The evaluation loss with and without the load-balancing term, the weights unchanged (learning rate 0).
    eval_losses = {}
    for coef in ("0", "1"):
        run, _, _ = run_sft_command(ztune, work / f"eval-aux-{coef}", 1, [
            "--model", str(fixtures / "qwen3-moe"), "--dataset", str(dataset), "--max_steps", "1", "--learning_rate", "0",
            "--max_length", "256", "--lora_dropout", "0", "--router_aux_loss_coef", coef, "--split_dataset_ratio", "0.1",
            "--eval_steps", "1", "--report_to", "none"])
        eval_losses[coef] = [json.loads(line)["eval_loss"] for line in (run / "logging.jsonl").read_text().splitlines()
                             if '"eval_loss"' in line][0]
    added = eval_losses["1"] - eval_losses["0"]
    print(f"eval loss {eval_losses['0']:.4f} without the load-balancing loss, {eval_losses['1']:.4f} with coefficient 1")
    if not 0 < added <= 8 * 2:
        failures.append(f"the eval loss with --router_aux_loss_coef 1 adds {added:.4f}, not a load-balancing loss")

    # ms-swift's adapter on Qwen3-MoE (experts through target_parameters) in ztune infer.
    swift_ckpt = swift_adapter(fixtures / "qwen3-moe", dataset, work / "swift-qwen3-moe")
    swift_config = json.loads((swift_ckpt / "adapter_config.json").read_text())
    if sorted(swift_config.get("target_parameters") or []) != ["down_proj", "gate_up_proj"]:
        failures.append(f"ms-swift's adapter does not adapt the experts: {swift_config.get('target_parameters')}")
    results = infer_batch(ztune, ["--adapters", str(swift_ckpt), "--model", str(fixtures / "qwen3-moe")], val,
                          work / "result-swift.jsonl")
    expected = reference_replies(str(fixtures / "qwen3-moe"), swift_ckpt, [r["messages"] for r in results], 4)
    compare(failures, "qwen3-moe infer, ms-swift's adapter", results, expected)

    # ztune's MoE checkpoints in ms-swift: `swift infer` answers as `ztune infer` does and `swift export` merges the
    # same weights. Two steps at the default learning rate keep the replies varied while moving the adapters.
    swift = Path(sys.executable).parent / "swift"
    for name in ("qwen3-moe", "qwen2-moe"):
        model = fixtures / name
        run, _, _ = run_sft_command(ztune, work / f"light-{name}", 1, [
            "--model", str(model), "--dataset", str(dataset), "--max_steps", "2", "--save_steps", "2",
            "--max_length", "256", "--lora_dropout", "0", "--report_to", "none"])
        ckpt = run / "checkpoint-2"
        ours = [r["response"] for r in infer_batch(ztune, ["--adapters", str(ckpt)], val, work / f"light-{name}-ztune.jsonl")]
        theirs_path = work / f"light-{name}-swift.jsonl"
        merged = {"ztune": work / f"light-{name}-merged-ztune", "swift": work / f"light-{name}-merged-swift"}
        # A second run of this test: swift export refuses an existing --output_dir, swift infer appends to its
        # --result_path.
        for folder in merged.values():
            shutil.rmtree(folder, ignore_errors=True)
        theirs_path.unlink(missing_ok=True)
        for command in ([swift, "infer", "--adapters", ckpt, "--infer_backend", "transformers", "--val_dataset", val,
                         "--temperature", "0", "--max_new_tokens", MAX_NEW, "--result_path", theirs_path],
                        [swift, "export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged["swift"]],
                        [ztune, "export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged["ztune"],
                         "--exist_ok", "true"]):
            done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=900,
                                  env=dict(os.environ, OMP_NUM_THREADS="2"))
            if done.returncode != 0:
                sys.exit(f"FAIL: {' '.join(map(str, command[:2]))} on ztune's {name} checkpoint exited {done.returncode}: "
                         f"{done.stderr[-2000:]}")
        theirs = [json.loads(line)["response"] for line in theirs_path.read_text().splitlines()]
        same = sum(a == b for a, b in zip(ours, theirs))
        print(f"{name}: swift infer on ztune's checkpoint: {same} of {len(ours)} replies equal ztune infer's; "
              f"{len(set(ours))} distinct")
        if ours != theirs or len(set(ours)) < 3:
            failures.append(f"{name}: swift infer replies {theirs[:2]}, ztune infer {ours[:2]} ({len(set(ours))} distinct)")
        weights = {tool: merged_weights(folder) for tool, folder in merged.items()}
        base = merged_weights(model)
        if set(weights["ztune"]) != set(weights["swift"]):
            failures.append(f"{name}: merged tensor names differ: {sorted(set(weights['ztune']) ^ set(weights['swift']))[:4]}")
            continue
        worst = max(float(np.abs(weights["ztune"][k].astype(np.float64) - weights["swift"][k]).max()) for k in weights["ztune"])
        moved = {k for k in base if k in weights["ztune"] and not np.array_equal(weights["ztune"][k], base[k])}
        experts_moved = sum(".experts." in k for k in moved)
        print(f"{name}: ztune export and swift export merge within {worst:.2g}; {len(moved)} tensors moved from the base, "
              f"{experts_moved} of them experts'")
        if worst > 1e-6 or not moved:
            failures.append(f"{name}: merged weights differ by {worst:.3g} (moved {len(moved)})")

    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print("ok: mixture-of-experts training, inference, merge and ms-swift's adapters")


if __name__ == "__main__":
    main()
