#!/usr/bin/env python3
"""Small GGUF files (under 8 KB) seeding the GGUF fuzzer: a byte-level (gpt2) and a SentencePiece (llama)
vocabulary, metadata of each value type, and tensors in F32, F16, Q8_0 and Q4_0, written with llama.cpp's gguf-py.

usage: make_gguf_seeds.py OUT_DIR
"""
import sys
from pathlib import Path

import gguf
import numpy as np


def write(path, model, arch):
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("fuzz seed")
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_head_count(2)
    writer.add_layer_norm_rms_eps(1e-6)
    tokens = ["<s>", "</s>", "<unk>"] + [f"<0x{b:02X}>" for b in range(16)] + ["\u2581a", "\u2581ab", "a", "b", "ab"]
    types = [3, 3, 2] + [6] * 16 + [1] * 5
    if model == "gpt2":
        tokens = ["<|endoftext|>", "a", "b", "ab", "\u0120", "\u0120a", "\u0120ab", "c"]
        types = [3] + [1] * 7
        writer.add_token_merges(["a b", "\u0120 a", "\u0120a b"])
        writer.add_tokenizer_pre("qwen2" if arch == "qwen2" else "default")
    else:
        writer.add_token_scores([0.0] * 3 + [0.0] * 16 + [-1.0, -2.0, -3.0, -4.0, -5.0])
    writer.add_tokenizer_model(model)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1 if model == "llama" else 0)
    writer.add_add_bos_token(model == "llama")
    writer.add_chat_template("{{ messages }}")
    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, 32)).astype(np.float32)
    writer.add_tensor("token_embd.weight", values[:, :8].copy())
    writer.add_tensor("output_norm.weight", values[0, :8].astype(np.float16))
    for name, kind in (("blk.0.attn_q.weight", gguf.GGMLQuantizationType.Q8_0),
                       ("blk.0.attn_k.weight", gguf.GGMLQuantizationType.Q4_0)):
        writer.add_tensor(name, gguf.quants.quantize(values, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for model, arch in (("gpt2", "qwen2"), ("gpt2", "llama"), ("llama", "llama")):
        write(out / f"{model}-{arch}.gguf", model, arch)


if __name__ == "__main__":
    main()
