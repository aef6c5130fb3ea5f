#!/usr/bin/env python3
"""Reference outputs of transformers + peft on the fixture models, for tests/unit/test_model.cpp.

usage: model_reference.py FIXTURES_DIR OUT_DIR

For each fixture model (qwen2, qwen2-tied, llama, qwen3) and each config variant (Mistral and Qwen2 sliding
windows, Llama-3.1 and linear RoPE scaling: VARIANTS) in fp32 and bf16: a LoRA adapter (r=8, alpha=16,
no dropout, all-linear) with lora_B set non-zero, a batch of token ids and labels, and what transformers +
peft compute for it: logits, the summed token cross-entropy (labels shifted, -100 ignored) and the
gradient of that sum with respect to every LoRA A and B. Written to OUT_DIR/<model>-<dtype>.safetensors
with the names of PEFT's trainable parameters in OUT_DIR/<model>-<dtype>.json.
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

MODELS = ["qwen2", "qwen2-tied", "llama", "qwen3", "qwen3-moe", "qwen2-moe", "qwen3.5", "qwen3.5-moe"]
# Tokens per row: 24, and for the hybrid Qwen3.5 fixtures 100, past the delta rule's first chunk of 64 tokens.
LENGTHS = {"qwen3.5": 100, "qwen3.5-moe": 100}
# Mixture-of-experts fixtures run in fp32 only (a bf16 router can pick other experts on a rounding), with the
# load-balancing loss added at AUX_WEIGHT so that its gradient shows in the LoRA gradients.
MOE_MODELS = {"qwen3-moe", "qwen2-moe", "qwen3.5-moe"}
AUX_WEIGHT = 10.0
# What ms-swift 4.6 passes PEFT for --target_modules all-linear on the MoE fixtures: its find_all_linears list (the
# linear modules the model has; docs/MOE.md). PEFT then turns Qwen3-MoE's expert names into target_parameters.
SWIFT_ALL_LINEAR = {
    "qwen3-moe": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2-moe": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "shared_expert_gate"],
}
# Cases with targets of their own: (fixture, ztune's --target_modules, --target_parameters). The router and the
# down experts of Qwen3-MoE named explicitly; Qwen2-MoE's routed experts through target_parameters.
TARGET_CASES = {
    "qwen3-moe-router": ("qwen3-moe", ["q_proj", "gate", "down_proj"], []),
    "qwen2-moe-experts": ("qwen2-moe", ["o_proj"], ["gate_up_proj", "down_proj"]),
}
# Families whose only difference is config: a fixture's weights under another config.json, written to
# OUT_DIR/models/<name>. Windows of 8 and a Llama-3.1 original context of 16 act within the 24-token batch.
VARIANTS = {
    "mistral-window": ("llama", {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "sliding_window": 8}),
    # transformers 5 configs say per layer (layer_types); older ones by max_window_layers (layer_types absent).
    "qwen2-window": ("qwen2", {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 1,
                               "layer_types": ["full_attention", "sliding_attention", "full_attention",
                                               "sliding_attention"]}),
    "qwen3-window": ("qwen3", {"use_sliding_window": True, "sliding_window": 6, "max_window_layers": 2,
                               "layer_types": None}),
    "llama-rope-llama3": ("llama", {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                        "original_max_position_embeddings": 16}}),
    "llama-rope-linear": ("llama", {"rope_parameters": {"rope_type": "linear", "rope_theta": 500000.0, "factor": 4.0}}),
}


def write_variant(fixtures, out, name):
    base, update = VARIANTS[name]
    folder = out / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    for item in (fixtures / base).iterdir():
        target = folder / item.name
        if item.name == "config.json" or target.exists():
            continue
        target.symlink_to(item.resolve())
    config = json.loads((fixtures / base / "config.json").read_text())
    config.update(update)
    config = {key: value for key, value in config.items() if value is not None}  # None: the key removed
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def reference(model_dir, dtype, name):
    length = LENGTHS.get(name, 24)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, attn_implementation="eager")
    targets, parameters = "all-linear", None
    if name in TARGET_CASES:
        targets, parameters = TARGET_CASES[name][1], TARGET_CASES[name][2] or None
    elif name in SWIFT_ALL_LINEAR:
        targets = list(SWIFT_ALL_LINEAR[name])
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets, target_parameters=parameters,
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.05)
    vocab = base.config.vocab_size
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, min(vocab, 1500), (2, length), generator=generator)
    labels = input_ids.clone()
    labels[:, :6] = -100
    labels[1, 15:18] = -100
    position_ids = torch.arange(length).unsqueeze(0).repeat(2, 1)
    moe = getattr(base.config, "num_experts", 0) or 0
    out = model(input_ids=input_ids, position_ids=position_ids, output_router_logits=bool(moe))
    logits = out.logits
    loss_sum = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                               ignore_index=-100, reduction="sum")
    objective = loss_sum + AUX_WEIGHT * out.aux_loss if moe else loss_sum
    objective.backward()
    tensors = {"input_ids": input_ids, "labels": labels, "logits": logits.detach().float().contiguous(),
               "loss_sum": loss_sum.detach().reshape(1)}
    if moe:
        tensors["aux_loss"] = out.aux_loss.detach().float().reshape(1)
        tensors["aux_weight"] = torch.tensor([AUX_WEIGHT])
    trainable = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            peft_name = name.replace(".default", "")
            trainable.append(peft_name)
            tensors["adapter." + peft_name] = param.detach().float().contiguous()
            tensors["grad." + peft_name] = param.grad.detach().float().contiguous()
    return tensors, trainable


def main():
    fixtures, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    logits = {}
    for name in MODELS + list(VARIANTS) + list(TARGET_CASES):
        folder = write_variant(fixtures, out, name) if name in VARIANTS else fixtures / TARGET_CASES.get(name, (name,))[0]
        for dtype_name, dtype in DTYPES.items():
            if (name in MOE_MODELS or name in TARGET_CASES) and dtype_name != "fp32":
                continue
            tensors, trainable = reference(folder, dtype, name)
            logits[(name, dtype_name)] = tensors["logits"]
            if name in VARIANTS:  # the config change must change what transformers computes, or it tests nothing
                difference = (tensors["logits"] - logits[(VARIANTS[name][0], dtype_name)]).abs().max().item()
                if difference < 1e-3:
                    sys.exit(f"{name}: logits equal {VARIANTS[name][0]}'s (max difference {difference:.2e})")
            save_file(tensors, str(out / f"{name}-{dtype_name}.safetensors"))
            meta = {"trainable": trainable}
            if name in TARGET_CASES:
                meta.update(model=TARGET_CASES[name][0], target_modules=TARGET_CASES[name][1],
                            target_parameters=TARGET_CASES[name][2])
            (out / f"{name}-{dtype_name}.json").write_text(json.dumps(meta, indent=1))
            print(f"{name} {dtype_name}: loss_sum {tensors['loss_sum'].item():.6f}, {len(trainable)} LoRA tensors")


if __name__ == "__main__":
    main()
