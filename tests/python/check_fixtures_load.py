#!/usr/bin/env python3
"""Checks the generated fixtures are what the tests assume: each model loads in transformers with the
right architecture and gives finite logits; the tokenizers round-trip text, keep special tokens whole, and
the chat templates render the layouts of REFERENCE.md section 3 (Qwen2.5 ChatML with its default system)."""
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

EXPECTED = {
    "qwen2": ("Qwen2ForCausalLM", False, True),
    "qwen2-tied": ("Qwen2ForCausalLM", True, False),
    "llama": ("LlamaForCausalLM", False, False),
    "qwen3": ("Qwen3ForCausalLM", False, False),
    "qwen3.5": ("Qwen3_5ForCausalLM", False, False),
    "qwen3.5-moe": ("Qwen3_5MoeForCausalLM", False, False),
}
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def fail(message):
    sys.exit(f"FAIL: {message}")


def check_model(folder, architecture, tied, sharded):
    config = json.loads((folder / "config.json").read_text())
    if config["architectures"] != [architecture]:
        fail(f"{folder.name}: architectures {config['architectures']}")
    if bool(config.get("tie_word_embeddings")) != tied:
        fail(f"{folder.name}: tie_word_embeddings {config.get('tie_word_embeddings')}")
    if sharded != (folder / "model.safetensors.index.json").exists():
        fail(f"{folder.name}: sharded={sharded} expected")
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ids = tokenizer("Hello world, 你好", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    if logits.shape[-1] != config["vocab_size"] or not torch.isfinite(logits).all():
        fail(f"{folder.name}: bad logits {tuple(logits.shape)}")
    if config["vocab_size"] < len(tokenizer):
        fail(f"{folder.name}: vocab_size {config['vocab_size']} < tokenizer size {len(tokenizer)}")
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    print(f"{folder.name}: {architecture}, {sum(p.numel() for p in model.parameters())} parameters, {size} bytes")


def check_qwen_tokenizer(folder):
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    for text in ["Hello, world!", "你好，世界 😀", "  spaces\n\n\ttabs", "x<|im_end|>y", "don't 123456"]:
        ids = tokenizer.encode(text)
        if tokenizer.decode(ids) != text:
            fail(f"round trip of {text!r} gave {tokenizer.decode(ids)!r}")
    im_start, im_end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    if tokenizer.encode("<|im_start|>user") [0] != im_start:
        fail("<|im_start|> is not kept whole")
    if tokenizer.convert_tokens_to_ids("<|endoftext|>") + 1 != im_start or im_start + 1 != im_end:
        fail("special token ids are not consecutive after the vocabulary like Qwen's")
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False)
    expected = (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                "<|im_start|>assistant\nHello!<|im_end|>\n")
    if rendered != expected:
        fail(f"qwen template rendered {rendered!r}")
    with_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q"}]
    rendered = tokenizer.apply_chat_template(with_system, tokenize=False, add_generation_prompt=True)
    if rendered != "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n":
        fail(f"qwen template with system rendered {rendered!r}")
    print(f"{folder.name}: {len(tokenizer)} tokens, ChatML template ok")


def check_llama_tokenizer(folder):
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    chat = [{"role": "user", "content": "Hi"}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    expected = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n")
    if rendered != expected:
        fail(f"llama3 template rendered {rendered!r}")
    print(f"{folder.name}: {len(tokenizer)} tokens, Llama-3 template ok")


def main():
    root = Path(sys.argv[1])
    for name, (architecture, tied, sharded) in EXPECTED.items():
        check_model(root / name, architecture, tied, sharded)
    check_qwen_tokenizer(root / "tokenizer-qwen")
    check_llama_tokenizer(root / "tokenizer-llama3")
    print("fixtures ok")


if __name__ == "__main__":
    main()
