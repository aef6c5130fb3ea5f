#!/usr/bin/env python3
"""Greedy generations of transformers (+ peft) on the fixture models, for tests/unit/test_generation.cpp.

usage: generation_reference.py FIXTURES_DIR OUT_DIR

For qwen2, llama and the hybrid qwen3.5 (its Gated DeltaNet states cached, left padding zeroed) in fp32, with
and without a LoRA adapter (lora_B non-zero), Mistral with a sliding
window and Llama with Llama-3.1 RoPE scaling without one, and with repetition
penalty 1.0 and 1.3: three prompts of different lengths, left-padded into one batch, 64 new tokens by
model.generate(do_sample=False). Writes OUT_DIR/generation.json (prompts, stop ids, outputs cut after the
first stop token) and OUT_DIR/<model>-adapter.safetensors.
"""
import json
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_reference import VARIANTS, write_variant  # noqa: E402


def main():
    fixtures, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(11)
    prompts = [torch.randint(0, 1500, (n,), generator=generator).tolist() for n in (5, 9, 13)]
    result = {"prompts": prompts, "cases": []}
    for name in ("qwen2", "llama", "mistral-window", "llama-rope-llama3", "qwen3.5"):
        # Config variants (model_reference.VARIANTS): a sliding window of 8 and Llama-3.1 RoPE scaling, both acting
        # over prompt + 64 new tokens; written to OUT_DIR/models/<name>.
        folder = write_variant(fixtures, out, name) if name in VARIANTS else fixtures / name
        stop = json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
        for with_adapter in ((False, True) if name not in VARIANTS else (False,)):
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager")
            if with_adapter:
                model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                         target_modules="all-linear", task_type="CAUSAL_LM"))
                with torch.no_grad():
                    for param_name, param in model.named_parameters():
                        if "lora_B" in param_name:
                            param.normal_(0.0, 0.05)
                save_file({n.replace(".default", ""): p.detach().contiguous() for n, p in model.named_parameters()
                           if p.requires_grad}, str(out / f"{name}-adapter.safetensors"))
            model.eval()
            longest = max(len(p) for p in prompts)
            ids = torch.tensor([[0] * (longest - len(p)) + p for p in prompts])
            mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
            for penalty in (1.0, 1.3):
                with torch.no_grad():
                    generated = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=64, do_sample=False,
                                               repetition_penalty=penalty, eos_token_id=stop, pad_token_id=0,
                                               temperature=None, top_p=None, top_k=None)
                outputs = []
                for row in generated[:, longest:].tolist():
                    cut = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
                    outputs.append(row[:cut])
                result["cases"].append({"model": name, "adapter": with_adapter, "repetition_penalty": penalty,
                                        "stop": stop, "outputs": outputs})
                print(f"{name} adapter={with_adapter} penalty={penalty}: lengths {[len(o) for o in outputs]}")
    (out / "generation.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
