#!/usr/bin/env python3
"""What ms-swift adapts on a mixture-of-experts model: `swift sft --target_modules all-linear` (and explicit
targets) on tiny random Qwen3-MoE and Qwen2-MoE folders written by transformers' save_pretrained, one step on
the CPU, then the adapter it saved: adapter_config.json's target_modules / target_parameters and the LoRA
tensors grouped by the module they adapt (layer numbers and expert numbers folded).

usage: moe_lora_targets.py TOKENIZER_DIR WORK_DIR [--json OUT.json]

TOKENIZER_DIR: a folder with tokenizer.json and tokenizer_config.json (tests/fixtures/out/qwen3). The result
is printed as JSON (and written to OUT.json); docs/MOE.md records it for the pinned ms-swift.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

VOCAB = 2048  # the fixture tokenizers' vocabulary (tests/fixtures/out/qwen3/config.json)


def write_models(tokenizer_dir, work):
    import torch
    import transformers

    common = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=1024, tie_word_embeddings=False, num_experts=4, num_experts_per_tok=2,
                  moe_intermediate_size=32, intermediate_size=96)
    models = {
        # layer 1 is dense (mlp_only_layers), to see what all-linear does with a plain MLP beside the experts
        "qwen3-moe": (transformers.Qwen3MoeConfig(head_dim=16, norm_topk_prob=True, mlp_only_layers=[1], **common),
                      transformers.Qwen3MoeForCausalLM),
        "qwen2-moe": (transformers.Qwen2MoeConfig(shared_expert_intermediate_size=48, **common),
                      transformers.Qwen2MoeForCausalLM),
    }
    folders = {}
    for name, (config, cls) in models.items():
        torch.manual_seed(0)
        folder = work / name
        cls(config).save_pretrained(str(folder))
        for file in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(tokenizer_dir / file, folder / file)
        folders[name] = folder
    return folders


# ms-swift cannot pick one template for a qwen3_moe folder by itself (qwen3, qwen3_thinking, ...): named here.
TEMPLATES = {"qwen3-moe": "qwen3", "qwen2-moe": "qwen2_5"}


def run_swift(model, data, out, targets, extra=()):
    swift = Path(sys.executable).parent / "swift"
    command = [str(swift), "sft", "--model", str(model), "--dataset", str(data), "--max_steps", "1", "--save_steps", "1",
               "--max_length", "128", "--output_dir", str(out), "--report_to", "none", "--torch_dtype", "float32",
               "--dataloader_num_workers", "0", "--split_dataset_ratio", "0", "--template", TEMPLATES[model.name],
               "--target_modules", *targets, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    if done.returncode != 0:
        return {"error": done.stderr[-1500:]}
    checkpoint = sorted(out.glob("v*/checkpoint-1"))[-1]
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    from safetensors import safe_open

    with safe_open(str(checkpoint / "adapter_model.safetensors"), "pt") as f:
        names = list(f.keys())
        shapes = {re.sub(r"\.\d+\.", ".N.", name): list(f.get_slice(name).get_shape()) for name in names}
    modules = sorted({re.sub(r"\.lora_[AB].*", "", re.sub(r"\.\d+\.", ".N.", name)) for name in names})
    return {"target_modules": config.get("target_modules"), "target_parameters": config.get("target_parameters"),
            "adapted": modules, "tensor_shapes": shapes}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tokenizer_dir", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = Path(__file__).resolve().parents[2] / "data" / "sample" / "sharegpt_seed.jsonl"
    result = {}
    for name, folder in write_models(args.tokenizer_dir, args.work).items():
        # ms-swift's defaults first; then without LoRA dropout, which PEFT's adapters on fused expert parameters refuse
        for targets, extra in ((["all-linear"], []), (["all-linear"], ["--lora_dropout", "0"]),
                               (["q_proj", "gate_proj", "down_proj"], []),
                               (["q_proj", "gate_proj", "up_proj", "down_proj"], ["--lora_dropout", "0"])):
            key = f"{name} --target_modules {' '.join(targets + extra)}"
            result[key] = run_swift(folder, data, args.work / f"{name}-{'-'.join(targets + extra)}", targets, extra)
            print(key, json.dumps(result[key], indent=1), flush=True)
    import swift
    import peft
    import transformers
    result["versions"] = {"ms-swift": swift.__version__, "peft": peft.__version__, "transformers": transformers.__version__}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
