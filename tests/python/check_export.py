#!/usr/bin/env python3
"""`ztune export`: consolidation of checkpoint shards into PEFT adapters, and LoRA merging.

usage: check_export.py ZTUNE MODEL_DIR DATASET WORK_DIR

Consolidation: for world sizes 1-4 and ZeRO stages 0-3, a 3-step run's checkpoint is consolidated from its
shards and manifest alone (`--ckpt_dir CKPT --to_peft OUT`); the adapter must equal the one rank 0 wrote
at save time bitwise, with the same adapter_config.json, and load in peft. A checkpoint whose adapter file
was deleted still merges (the shards are consolidated first).

Merge: `--adapters CKPT --merge_lora true` writes CKPT-merged, which transformers loads as a plain model;
its logits equal peft's merge_and_unload() logits within 1e-5 on a batch of token ids; with
--max_shard_size 300KB the output is several shards plus model.safetensors.index.json and loads the same;
the base folder is unchanged (every file's bytes); an existing output folder needs --exist_ok true.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from sft_run import run_sft_command

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def export(ztune, *arguments):
    return subprocess.run([ztune, "export", *arguments], capture_output=True, text=True)


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    failures = []
    checkpoints = {}
    for world in (1, 2, 3, 4):
        for stage in (0, 1, 2, 3):
            name = f"w{world}-zero{stage}"
            run, _, _ = run_sft_command(ztune, work / name, world, [
                "--model", model, "--dataset", dataset, "--max_steps", "3", "--save_steps", "3", "--max_length", "256",
                "--packing", "true", "--gradient_accumulation_steps", "1", "--learning_rate", "5e-3",
                "--deepspeed", f"zero{stage}", "--report_to", "none"])
            ckpt = run / "checkpoint-3"
            checkpoints[name] = ckpt
            out = work / f"{name}-peft"
            shutil.rmtree(out, ignore_errors=True)
            result = export(ztune, "--ckpt_dir", str(ckpt), "--to_peft", str(out))
            if result.returncode != 0:
                failures.append(f"{name}: export --ckpt_dir failed: {result.stderr[-600:]}")
                continue
            saved, rebuilt = load_file(str(ckpt / "adapter_model.safetensors")), load_file(str(out / "adapter_model.safetensors"))
            if set(saved) != set(rebuilt) or any(not torch.equal(saved[k], rebuilt[k]) for k in saved):
                failures.append(f"{name}: the consolidated adapter differs from the one saved by rank 0")
            config_a = json.loads((ckpt / "adapter_config.json").read_text())
            config_b = json.loads((out / "adapter_config.json").read_text())
            if config_a != config_b:
                failures.append(f"{name}: adapter_config.json differs")
    print(f"consolidated {len(checkpoints)} checkpoints (world sizes 1-4 x ZeRO 0-3); failures so far: {len(failures)}")

    ckpt = checkpoints["w2-zero3"]
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(work / "w2-zero3-peft")).eval()
    state = {k.replace(".default", ""): v for k, v in peft_model.state_dict().items() if "lora_" in k}
    saved = load_file(str(ckpt / "adapter_model.safetensors"))
    if set(state) != set(saved) or any(not torch.equal(state[k], saved[k]) for k in saved):
        failures.append("peft does not load the consolidated adapter's tensors")
    ids = torch.randint(0, base.config.vocab_size, (3, 40), generator=torch.Generator().manual_seed(3))
    reference = logits_of(peft_model.merge_and_unload(), ids)

    before = digest(model)
    shutil.rmtree(str(ckpt) + "-merged", ignore_errors=True)
    result = export(ztune, "--adapters", str(ckpt), "--merge_lora", "true")
    merged = Path(str(ckpt) + "-merged")
    if result.returncode != 0 or not (merged / "model.safetensors").exists():
        failures.append(f"merge failed: {result.stderr[-800:]}")
    else:
        loaded = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32).eval()
        diff = (logits_of(loaded, ids) - reference).abs().max().item()
        print(f"merged (one file): logits within {diff:.2g} of peft's merge_and_unload()")
        if diff > 1e-5:
            failures.append(f"merged logits differ from peft's by {diff}")
        for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
            if not (merged / name).exists():
                failures.append(f"the merged folder lacks {name}")
    again = export(ztune, "--adapters", str(ckpt), "--merge_lora", "true")
    if again.returncode == 0 or "--exist_ok" not in again.stderr:
        failures.append(f"merging into an existing folder without --exist_ok was not refused: {again.stderr[-300:]}")
    sharded = work / "sharded"
    shutil.rmtree(sharded, ignore_errors=True)
    result = export(ztune, "--adapters", str(ckpt), "--merge_lora", "true", "--output_dir", str(sharded),
                    "--max_shard_size", "300KB")
    shards = sorted(p.name for p in sharded.glob("model-*.safetensors")) if sharded.exists() else []
    if result.returncode != 0 or len(shards) < 2 or not (sharded / "model.safetensors.index.json").exists():
        failures.append(f"--max_shard_size 300KB did not shard: {shards} {result.stderr[-500:]}")
    else:
        index = json.loads((sharded / "model.safetensors.index.json").read_text())
        if sorted(set(index["weight_map"].values())) != shards:
            failures.append("the index does not name exactly the shard files")
        if any(p.stat().st_size > 300_000 and len(load_file(str(p))) > 1 for p in sharded.glob("model-*.safetensors")):
            failures.append("a shard with several tensors is over --max_shard_size")
        loaded = AutoModelForCausalLM.from_pretrained(str(sharded), dtype=torch.float32).eval()
        diff = (logits_of(loaded, ids) - reference).abs().max().item()
        print(f"merged ({len(shards)} shards): logits within {diff:.2g} of peft's")
        if diff > 1e-5:
            failures.append(f"sharded merged logits differ by {diff}")
    result = export(ztune, "--adapters", str(ckpt), "--merge_lora", "true", "--output_dir", str(sharded),
                    "--exist_ok", "true", "--torch_dtype", "bfloat16")
    if result.returncode != 0 or json.loads((sharded / "config.json").read_text()).get("dtype") != "bfloat16":
        failures.append(f"--exist_ok true --torch_dtype bfloat16 failed: {result.stderr[-400:]}")
    elif AutoModelForCausalLM.from_pretrained(str(sharded)).dtype != torch.bfloat16:
        failures.append("the bfloat16 merge does not load as bfloat16")
    if digest(model) != before:
        failures.append("merging changed the base model folder")

    # A checkpoint without its adapter file: the shards are consolidated, then merged.
    stripped = work / "stripped"
    shutil.rmtree(stripped, ignore_errors=True)
    shutil.copytree(ckpt, stripped)
    (stripped / "adapter_model.safetensors").unlink()
    shutil.rmtree(str(stripped) + "-merged", ignore_errors=True)
    shutil.rmtree(str(stripped) + "-merged-adapter", ignore_errors=True)
    result = export(ztune, "--adapters", str(stripped), "--merge_lora", "true", "--model", model)
    if result.returncode != 0:
        failures.append(f"merging a checkpoint without adapter file failed: {result.stderr[-500:]}")
    else:
        loaded = AutoModelForCausalLM.from_pretrained(str(stripped) + "-merged", dtype=torch.float32).eval()
        diff = (logits_of(loaded, ids) - reference).abs().max().item()
        if diff > 1e-5:
            failures.append(f"the merge rebuilt from shards differs by {diff}")
        print(f"checkpoint without adapter file: rebuilt from shards and merged, logits within {diff:.2g}")
    bad = export(ztune, "--adapters", str(work / "nowhere"), "--merge_lora", "true")
    if bad.returncode == 0 or "nowhere" not in bad.stderr:
        failures.append("a missing checkpoint folder is not reported by name")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
