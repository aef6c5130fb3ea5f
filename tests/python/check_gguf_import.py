#!/usr/bin/env python3
"""`ztune export --from_gguf FILE --output_dir DIR`: GGUF files in, Hugging Face model folders out.

usage: check_gguf_import.py ZTUNE [FIXTURES_DIR [WORK_DIR]]

GGUF files are built from the tiny llama and qwen2 fixtures with the `gguf` package's GGUFWriter, as llama.cpp's
convert_hf_to_gguf.py writes them: tokenizer.ggml.model gpt2, tokens and token types as get_vocab_base() makes them
([PADn] for unused ids, CONTROL/USER_DEFINED for added tokens), merges, special ids and the chat template from
gguf.SpecialVocab, tokenizer.ggml.pre by the fixture's split regex, and LlamaModel.permute on the llama q/k
weights (qwen2 is not permuted). Weights in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (the `gguf` package's own
quantisers); the package cannot quantise K-quants, so a llama of hidden size 256 (the fixtures' 128 is not a
multiple of the 256-value K block) is written with random, valid Q2_K..Q6_K blocks.

Checks:
 (a) every tensor of DIR equals the `gguf` package's dequantisation of the file (gguf.quants.dequantize), with
     the llama q/k permutation undone as transformers' reverse_permute does, bit for bit (float32 output); with
     --torch_dtype bfloat16, every tensor equals that float32 tensor cast to bfloat16 by torch;
 (b) transformers loads DIR (AutoModelForCausalLM, AutoTokenizer); for the F32 files the logits on a few token
     sequences equal the original fixture's within 1e-5 and 8 greedy tokens are identical;
 (c) DIR's tokenizer encodes a varied corpus (the fixtures' corpus, Unicode in NFC and NFD, CJK, emoji, digits,
     whitespace runs, special and added tokens) exactly as the fixture's tokenizer, decodes alike and renders the
     same chat template; a llama-bpe file without tokenizer.ggml.add_bos_token adds BOS as llama.cpp does; the
     smollm, gpt-2 and default pre-tokenizers split as llama.cpp's (SmolLM's tokenizer.json for smollm);
 (d) broken files (truncated at several points, a tensor offset past the end or overflowing, a string length
     past the end, a bad magic, a Unigram (t5) tokenizer, an unknown architecture) exit 2 with an error
     naming the file, never a crash.
Prints a summary table and the number of tensors and types checked; exits 1 on any failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

try:
    import gguf
    from gguf import GGMLQuantizationType as Q
except ImportError:
    sys.exit("the `gguf` package is missing: pip install -r requirements.txt")

import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch

HERE = Path(__file__).resolve().parent
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5
K_QUANTS = [Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
# Offsets of each type's float16 scale fields inside a block (random bytes elsewhere are all valid).
HALF_FIELDS = {Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}

failures = []
summary = []
tensors_checked = 0
types_checked = set()


def fail(message):
    failures.append(message)
    print("FAIL:", message)


# ---- the converter's side (convert_hf_to_gguf.py) ----

def does_token_look_special(text):
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<\uff5c") and text.endswith("\uff5c>"))
            or (text.startswith("<unused") and text.endswith(">")))


def vocab_base(tokenizer, vocab_size):
    """TextModel.get_vocab_base(): token texts and types for ids 0..vocab_size-1."""
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
            continue
        token = reverse[i]
        if token in added:
            if not decoder[i].normalized:
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if decoder[i].special or does_token_look_special(token):
                types.append(TOKEN_CONTROL)
            else:
                token = token.replace("\u2581", " ")
                types.append(TOKEN_USER_DEFINED)
        else:
            types.append(TOKEN_NORMAL)
        tokens.append(token)
    return tokens, types


def permute(w, n_head, n_head_kv):
    """LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def reverse_permute(w, n_head, num_kv_heads):
    """transformers' LlamaTensorProcessor._reverse_permute_weights."""
    if num_kv_heads is not None and n_head != num_kv_heads:
        n_head = num_kv_heads
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def hf_to_gguf_name(name):
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if name in fixed:
        return fixed[name]
    parts = name.split(".")
    module, kind = ".".join(parts[3:]).rsplit(".", 1)
    gguf_module = next(g for g, hf in GGUF_TO_HF.items() if hf == module)
    return f"blk.{parts[2]}.{gguf_module}.{kind}"


def read_weights(model_dir):
    weights = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        weights.update(load_numpy(str(path)))
    return weights


def quantized(array, qtype):
    """(data, raw_dtype) for GGUFWriter.add_tensor: 1D tensors stay F32 and rows that do not fill a block F16,
    as llama.cpp's quantiser does."""
    if array.ndim == 1 or qtype == Q.F32:
        return array.astype(np.float32), None
    if qtype == Q.F16 or array.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0] != 0:
        return array.astype(np.float16), None
    return gguf.quants.quantize(array.astype(np.float32), qtype), qtype


def add_model_metadata(writer, arch, config, vocab_size, name):
    """The model's hyper-parameters, as llama.cpp's converter writes them from config.json."""
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(vocab_size)
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    if arch == "llama":
        writer.add_rope_dimension_count(head_dim)
    if config.get("head_dim") is not None:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)


def write_gguf(path, arch, config, tokenizer_dir, tensors, pre, add_bos=None, tokenizer_model="gpt2"):
    """tensors: GGUF name -> (array, raw_dtype or None)."""
    from transformers import AutoTokenizer
    writer = gguf.GGUFWriter(str(path), arch)
    add_model_metadata(writer, arch, config, config["vocab_size"], "ztune fixture")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokens, types = vocab_base(tokenizer, config["vocab_size"])
    writer.add_tokenizer_model(tokenizer_model)
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(Path(tokenizer_dir), load_merges=True, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    if add_bos is not None:
        writer.add_add_bos_token(add_bos)
    for name, (array, raw_dtype) in tensors.items():
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def fixture_tensors(model_dir, arch, config, qtype):
    out = {}
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    for name, array in sorted(read_weights(model_dir).items()):
        if arch == "llama" and (".q_proj." in name or ".k_proj." in name):
            array = permute(array, n_head, n_head if ".q_proj." in name else n_kv)
        out[hf_to_gguf_name(name)] = quantized(array, qtype)
    return out


def k_quant_tensors(config, rng):
    """A llama of hidden size 256 with random valid K-quant blocks, the types taking turns."""
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    heads, kv, hd, vocab = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"], config["vocab_size"]
    shapes = {"token_embd.weight": (vocab, hidden), "output_norm.weight": (hidden,), "output.weight": (vocab, hidden)}
    for i in range(layers):
        shapes.update({f"blk.{i}.attn_norm.weight": (hidden,), f"blk.{i}.ffn_norm.weight": (hidden,),
                       f"blk.{i}.attn_q.weight": (heads * hd, hidden), f"blk.{i}.attn_k.weight": (kv * hd, hidden),
                       f"blk.{i}.attn_v.weight": (kv * hd, hidden), f"blk.{i}.attn_output.weight": (hidden, heads * hd),
                       f"blk.{i}.ffn_gate.weight": (inter, hidden), f"blk.{i}.ffn_up.weight": (inter, hidden),
                       f"blk.{i}.ffn_down.weight": (hidden, inter)})
    out, turn = {}, 0
    for name, shape in shapes.items():
        if len(shape) == 1:
            out[name] = ((1 + 0.1 * rng.standard_normal(shape)).astype(np.float32), None)
            continue
        qtype = K_QUANTS[turn % len(K_QUANTS)]
        turn += 1
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        blocks = rng.integers(0, 256, (shape[0] * shape[1] // block, size), dtype=np.uint8)
        for offset in HALF_FIELDS[qtype]:
            scales = (rng.standard_normal(blocks.shape[0]) * 0.002).astype(np.float16)
            blocks[:, offset:offset + 2] = scales.view(np.uint8).reshape(-1, 2)
        out[name] = (blocks.reshape(shape[0], shape[1] // block * size), qtype)
    return out


def llama3_rope_factors(config, factor, low=1.0, high=4.0, old_context=8192):
    """LlamaModel.generate_extra_tensors(): the rope_freqs.weight of a rope_type llama3 model."""
    import math
    base = config["rope_parameters"]["rope_theta"]
    dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_context / high:
            factors.append(1)
        elif wavelen > old_context / low:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32).numpy()


# ---- ztune's side ----

def run_import(ztune, gguf_path, out_dir, *extra):
    shutil.rmtree(out_dir, ignore_errors=True)
    return subprocess.run([ztune, "export", "--from_gguf", str(gguf_path), "--output_dir", str(out_dir), *extra],
                          capture_output=True, text=True, timeout=600)


GGUF_TO_HF = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
              "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def gguf_to_hf_name(name):
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if name in fixed:
        return fixed[name]
    _, layer, module, kind = name.split(".")
    return f"model.layers.{layer}.{GGUF_TO_HF[module]}.{kind}"


def expected_tensors(gguf_path, arch):
    """The `gguf` package's reading of the file, under HF names, q/k unpermuted as transformers does."""
    reader = gguf.GGUFReader(str(gguf_path))
    n_head = int(reader.fields[f"{arch}.attention.head_count"].parts[-1][0])
    n_kv = int(reader.fields[f"{arch}.attention.head_count_kv"].parts[-1][0])
    out = {}
    for tensor in reader.tensors:
        if tensor.name == "rope_freqs.weight":  # becomes config.json's rope_parameters
            continue
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        values = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).astype(np.float32).reshape(shape)
        if arch == "llama" and (".attn_q." in tensor.name or ".attn_k." in tensor.name):
            values = reverse_permute(values, n_head, n_head if ".attn_q." in tensor.name else n_kv)
        out[gguf_to_hf_name(tensor.name)] = (np.ascontiguousarray(values), tensor.tensor_type)
    return out


def check_tensors(label, gguf_path, arch, out_dir):
    global tensors_checked
    expected = expected_tensors(gguf_path, arch)
    got = read_weights(out_dir)
    if sorted(got) != sorted(expected):
        fail(f"{label}: tensor names differ: extra {sorted(set(got) - set(expected))}, "
             f"missing {sorted(set(expected) - set(got))}")
        return 0
    exact = 0
    for name, (values, qtype) in expected.items():
        mine = got[name]
        if mine.dtype != np.float32 or mine.shape != values.shape:
            fail(f"{label}: {name} is {mine.dtype}{list(mine.shape)}, expected float32{list(values.shape)}")
        elif not np.array_equal(mine.view(np.uint32), values.view(np.uint32)):
            bad = np.argwhere(mine != values)
            fail(f"{label}: {name} ({qtype.name}) differs from gguf.quants.dequantize at {len(bad)} places, "
                 f"first {bad[0].tolist()}: {mine[tuple(bad[0])]!r} vs {values[tuple(bad[0])]!r}")
        else:
            exact += 1
            types_checked.add(qtype.name)
    tensors_checked += exact
    return exact


def logits(model, batch):
    with torch.no_grad():
        return model(input_ids=batch).logits


def greedy(model, prompt, steps):
    ids = prompt
    for _ in range(steps):
        ids = torch.cat([ids, logits(model, ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


def check_model(label, out_dir, original_dir, compare):
    """Loads out_dir in transformers; with compare, its logits and greedy tokens against the original's."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(0, min(vocab, 2000), (3, 17), generator=generator)
    mine = logits(model, batch)
    if not torch.isfinite(mine).all():
        fail(f"{label}: non-finite logits")
    if not compare:
        return "loads", "-"
    original = AutoModelForCausalLM.from_pretrained(original_dir, dtype=torch.float32).eval()
    diff = (mine - logits(original, batch)).abs().max().item()
    if diff > 1e-5:
        fail(f"{label}: logits differ from the fixture's by {diff:.3g}")
    # Greedy by hand: generate() would also apply each folder's generation_config.json (the fixture's has a
    # repetition penalty, which a GGUF does not carry).
    a, b = greedy(model, batch[:, :9], 8), greedy(original, batch[:, :9], 8)
    same = torch.equal(a, b)
    if not same:
        fail(f"{label}: greedy tokens differ: {a[:, 9:].tolist()} vs {b[:, 9:].tolist()}")
    return f"{diff:.1e}", "same" if same else "DIFFER"


def corpus():
    sys.path.insert(0, str(HERE.parent / "fixtures"))
    try:
        import make_fixtures
        texts = list(dict.fromkeys(make_fixtures.corpus_texts()))
    except Exception as error:  # the sample data is optional for this check
        print(f"note: fixture corpus unavailable ({error}); using the built-in texts only")
        texts = []
    extra = [
        "Hello world! 123 4567 89012 3.14159 1,000,000", "I'm you're they'LL WE'VE it'S", "  multiple   spaces\n\n\ttabs \t\n",
        "caf\u00e9 na\u00efve r\u00e9sum\u00e9", unicodedata.normalize("NFD", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m"),
        "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u4e2d\u6587\u6587\u672c\u3002\ud55c\uad6d\uc5b4", "emoji \U0001f600\U0001f44d\U0001f3fd \U0001f1e8\U0001f1f3 \u2728",
        "<|im_start|>user\nhi<|im_end|>\n<tool_call>{\"a\": 1}</tool_call>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
        "<|endoftext|> <|fim_prefix|>x<|fim_suffix|>", "def f(x):\r\n    return x**2  # \u00b2\u00b3 \u0661\u0662\u0663 \u2160\u2161",
        "[PAD2172] [PAD2047] <pad> <s></s>", "$+<=>^~| ((a)) ... !!! ???", "\u00a0\u2003\u3000x\u200b", "a" * 300,
        "12345678901234567890", "x1y22z333w4444",
    ]
    return texts + extra


def check_tokenizer(label, out_dir, original_dir, texts, expect_bos=False, transform=None):
    """DIR's tokenizer against the fixture's; `transform` edits the fixture's tokenizer.json into the reference
    (another pre-tokenizer). expect_bos: DIR adds BOS where the fixture adds nothing (llama.cpp's default)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    mine = AutoTokenizer.from_pretrained(out_dir)
    original = AutoTokenizer.from_pretrained(original_dir)
    # tokenizer.json as it is, for loaders that read the file alone (transformers rebuilds Qwen2Tokenizer's pipeline).
    mine_raw = Tokenizer.from_file(str(Path(out_dir) / "tokenizer.json"))
    spec = json.loads((Path(original_dir) / "tokenizer.json").read_text())
    if transform is not None:
        transform(spec)
    reference = Tokenizer.from_str(json.dumps(spec))
    mismatches = 0

    def mismatch(message):
        nonlocal mismatches
        mismatches += 1
        if mismatches <= 3:
            fail(f"{label}: {message}")

    for text in texts:
        got = mine.encode(text, add_special_tokens=False)
        raw = mine_raw.encode(text, add_special_tokens=False).ids
        if raw != reference.encode(text, add_special_tokens=False).ids:
            mismatch(f"tokenizer.json alone encodes {text[:60]!r} as {raw[:16]}, the reference's as "
                     f"{reference.encode(text, add_special_tokens=False).ids[:16]}")
            continue
        if transform is not None:
            want = reference.encode(text, add_special_tokens=False).ids
            if got != want:
                mismatch(f"encodes {text[:60]!r} as {got[:16]}, the reference as {want[:16]}")
            continue
        want = original.encode(text, add_special_tokens=False)
        with_special = mine.encode(text)
        expected = ([mine.bos_token_id] if expect_bos else []) + original.encode(text)
        if got != want:
            mismatch(f"encodes {text[:60]!r} as {got[:16]}, the fixture as {want[:16]}")
        elif with_special != expected:
            mismatch(f"with special tokens {text[:40]!r} -> {with_special[:8]}, expected {expected[:8]}")
        elif mine.decode(got) != original.decode(want):
            mismatch(f"decodes {want[:12]} as {mine.decode(got)[:60]!r}, the fixture as {original.decode(want)[:60]!r}")
    if transform is None:
        chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]
        a = mine.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        b = original.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        if a != b:
            mismatch(f"chat template renders {a[:80]!r}, the fixture {b[:80]!r}")
    if mismatches:
        fail(f"{label}: {mismatches} of {len(texts)} texts tokenize differently")
    return f"{len(texts) - mismatches}/{len(texts)}"


def check_failure(label, ztune, path, work, expect=None):
    result = run_import(ztune, path, work / f"broken-{label}")
    output = result.stdout + result.stderr
    ok = result.returncode == 2 and str(path) in output and "check failed" not in output
    if expect is not None:
        ok = ok and expect in output
    if not ok:
        fail(f"broken file '{label}': exit {result.returncode}, expected 2 with an error naming {path}"
             f"{' and ' + repr(expect) if expect else ''}; output: {output.strip()[-400:]}")
    line = next((l for l in output.splitlines() if str(path) in l), output.strip()[-120:])
    summary.append((f"broken: {label}", "-", "-", f"exit {result.returncode}", "-", "-", line.strip()[:90]))


def tensor_info_offsets(path):
    """(position of each tensor's offset field, data section start, file size, alignment)."""
    reader = gguf.GGUFReader(str(path))
    positions = []
    for tensor in reader.tensors:
        parts = tensor.field.parts
        positions.append(tensor.field.offset + sum(int(p.nbytes) for p in parts[:-1]))
    alignment = int(reader.fields["general.alignment"].parts[-1][0]) if "general.alignment" in reader.fields else 32
    return positions, reader.data_offset, os.path.getsize(path), alignment


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ztune = sys.argv[1]
    fixtures = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parent / "fixtures" / "out"
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp(prefix="ztune-gguf-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    texts = corpus()
    rng = np.random.default_rng(14)

    # Fixture files: (label, arch, fixture, weight type, tokenizer.ggml.pre, add_bos_token written, compare logits)
    runs = [
        ("llama-F32", "llama", "llama", Q.F32, "llama-bpe", None, True),
        ("llama-F32-nobos", "llama", "llama", Q.F32, "llama-bpe", False, False),
        ("llama-F16", "llama", "llama", Q.F16, "llama-bpe", False, False),
        ("llama-BF16", "llama", "llama", Q.BF16, "llama-bpe", False, False),
        ("llama-Q8_0", "llama", "llama", Q.Q8_0, "llama-bpe", False, False),
        ("llama-Q4_0", "llama", "llama", Q.Q4_0, "llama-bpe", False, False),
        ("llama-Q4_1", "llama", "llama", Q.Q4_1, "llama-bpe", False, False),
        ("llama-Q5_0", "llama", "llama", Q.Q5_0, "llama-bpe", False, False),
        ("llama-Q5_1", "llama", "llama", Q.Q5_1, "llama-bpe", False, False),
        ("qwen2-F32", "qwen2", "qwen2", Q.F32, "qwen2", None, True),
        ("qwen2-Q8_0", "qwen2", "qwen2", Q.Q8_0, "qwen2", None, False),
        ("qwen2-Q4_0", "qwen2", "qwen2", Q.Q4_0, "qwen2", None, False),
        ("qwen2-Q4_1", "qwen2", "qwen2", Q.Q4_1, "qwen2", None, False),
    ]
    files = {}
    for label, arch, fixture, qtype, pre, add_bos, compare in runs:
        source = fixtures / fixture
        config = json.loads((source / "config.json").read_text())
        path = work / f"{label}.gguf"
        write_gguf(path, arch, config, source, fixture_tensors(source, arch, config, qtype), pre, add_bos)
        files[label] = path
        out = work / label
        result = run_import(ztune, path, out)
        if result.returncode != 0:
            fail(f"{label}: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
            continue
        exact = check_tensors(label, path, arch, out)
        diff, tokens_same = check_model(label, out, source, compare)
        # llama.cpp adds BOS for llama-bpe unless the file says otherwise; the fixture's tokenizer adds nothing.
        expect_bos = add_bos is None and pre == "llama-bpe"
        parity = check_tokenizer(label, out, source, texts, expect_bos) if qtype in (Q.F32, Q.Q8_0) else "-"
        summary.append((label, arch, qtype.name, f"{exact}/{len(read_weights(out))} exact", diff, tokens_same,
                        f"tokenizer {parity}"))

    # bfloat16 output: the float32 import cast by torch.
    out = work / "llama-F32-bf16"
    result = run_import(ztune, files["llama-F32"], out, "--torch_dtype", "bfloat16")
    if result.returncode != 0:
        fail(f"bf16: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
    else:
        reference = {}
        for p in sorted((work / "llama-F32").glob("*.safetensors")):
            reference.update(load_torch(str(p)))
        mine = {}
        for p in sorted(out.glob("*.safetensors")):
            mine.update(load_torch(str(p)))
        same = sum(1 for n, t in reference.items() if n in mine and mine[n].dtype == torch.bfloat16
                   and torch.equal(mine[n].view(torch.int16), t.to(torch.bfloat16).view(torch.int16)))
        if same != len(reference) or len(mine) != len(reference):
            fail(f"bf16: {same} of {len(reference)} tensors equal the float32 import cast to bfloat16")
        if json.loads((out / "config.json").read_text()).get("dtype") != "bfloat16":
            fail("bf16: config.json's dtype is not bfloat16")
        check_model("llama-F32-bf16", out, None, False)
        summary.append(("llama-F32 --torch_dtype bfloat16", "llama", "F32", f"{same}/{len(reference)} = torch cast", "-", "-", "-"))

    # Sharding: several safetensors files plus the index, loading the same.
    out = work / "llama-F32-sharded"
    result = run_import(ztune, files["llama-F32"], out, "--max_shard_size", "300KB")
    shards = sorted(out.glob("*.safetensors"))
    if result.returncode != 0 or len(shards) < 2 or not (out / "model.safetensors.index.json").exists():
        fail(f"sharded: exit {result.returncode}, {len(shards)} shards; {(result.stdout + result.stderr).strip()[-300:]}")
    else:
        exact = check_tensors("llama-F32-sharded", files["llama-F32"], "llama", out)
        diff, tokens_same = check_model("llama-F32-sharded", out, fixtures / "llama", True)
        summary.append(("llama-F32 --max_shard_size 300KB", "llama", "F32", f"{exact} exact, {len(shards)} shards", diff,
                        tokens_same, "-"))

    # Llama 3.1-style rope scaling: only rope_freqs.weight (convert_hf_to_gguf.py's factors) carries it.
    config = json.loads((fixtures / "llama" / "config.json").read_text())
    tensors = fixture_tensors(fixtures / "llama", "llama", config, Q.F32)
    tensors["rope_freqs.weight"] = (llama3_rope_factors(config, factor=8.0), None)
    path = work / "llama-F32-rope-llama3.gguf"
    write_gguf(path, "llama", config, fixtures / "llama", tensors, "llama-bpe", False)
    out = work / "llama-F32-rope-llama3"
    result = run_import(ztune, path, out)
    want = {"rope_type": "llama3", "rope_theta": config["rope_parameters"]["rope_theta"], "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    if result.returncode != 0:
        fail(f"rope llama3: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
    else:
        got = json.loads((out / "config.json").read_text()).get("rope_parameters")
        if got != want:
            fail(f"rope llama3: rope_parameters {got}, expected {want}")
        exact = check_tensors("llama-F32-rope-llama3", path, "llama", out)
        check_model("llama-F32-rope-llama3", out, None, False)
        summary.append(("llama-F32 + rope_freqs (llama3)", "llama", "F32", f"{exact} exact",
                        "-", "-", "rope_parameters " + ("ok" if got == want else "WRONG")))

    # K-quants: a llama of hidden size 256 from random valid blocks (the gguf package cannot quantise them).
    k_config = {"max_position_embeddings": 2048, "hidden_size": 256, "num_hidden_layers": 2, "intermediate_size": 512,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "rope_parameters": {"rope_theta": 500000.0},
                "rms_norm_eps": 1e-5, "vocab_size": json.loads((fixtures / "llama" / "config.json").read_text())["vocab_size"]}
    path = work / "llama256-K.gguf"
    write_gguf(path, "llama", k_config, fixtures / "llama", k_quant_tensors(k_config, rng), "llama-bpe", False)
    out = work / "llama256-K"
    result = run_import(ztune, path, out)
    if result.returncode != 0:
        fail(f"K-quants: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
    else:
        exact = check_tensors("llama256-K", path, "llama", out)
        check_model("llama256-K", out, None, False)
        summary.append(("llama256 (random K blocks)", "llama", "Q2_K..Q6_K", f"{exact}/{len(read_weights(out))} exact", "-", "loads", "-"))

    # Pre-tokenizers beyond the fixtures' own: the llama fixture's vocabulary split llama.cpp's way.
    def pre_tokenizer(value, ignore_merges=False):
        def edit(spec):
            spec["normalizer"] = None
            spec["pre_tokenizer"] = value
            spec["model"]["ignore_merges"] = ignore_merges
        return edit
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    split = lambda regex: {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}
    variants = {
        # SmolLM's tokenizer.json (llama.cpp: "\p{N}" then GPT-2's regex)
        "smollm": pre_tokenizer({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}),
        "gpt-2": pre_tokenizer(byte_level),
        # llama-vocab.cpp's fallback: four regexes applied in turn
        "default": pre_tokenizer({"type": "Sequence", "pretokenizers": [
            split(r"[\p{P}\$\+<=>\^~\|]+"), split(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"),
            split(r"\p{N}+"), split("[0-9][0-9][0-9]"), dict(byte_level, use_regex=False)]}),
    }
    config = json.loads((fixtures / "llama" / "config.json").read_text())
    f16 = fixture_tensors(fixtures / "llama", "llama", config, Q.F16)
    for pre, transform in variants.items():
        label = f"llama-pre-{pre}"
        path = work / f"{label}.gguf"
        write_gguf(path, "llama", config, fixtures / "llama", f16, pre)
        out = work / label
        result = run_import(ztune, path, out)
        if result.returncode != 0:
            fail(f"{label}: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
            continue
        parity = check_tokenizer(label, out, fixtures / "llama", texts, transform=transform)
        summary.append((label, "llama", "F16", "-", "-", "-", f"tokenizer {parity}"))

    # Broken files: each a clear error (exit 2) naming the file.
    good = files["llama-F32"].read_bytes()
    positions, data_start, size, alignment = tensor_info_offsets(files["llama-F32"])
    def broken(label, data):
        path = work / f"broken-{label}.gguf"
        path.write_bytes(data)
        return path
    for cut in (10, 100, 5000, positions[-1] + 4, data_start + 8, size // 2, size - 1):
        check_failure(f"truncated at {cut} of {size}", ztune, broken(f"cut{cut}", good[:cut]), work)
    last_name = gguf.GGUFReader(str(files["llama-F32"])).tensors[-1].name
    past_end = (size - data_start + alignment) // alignment * alignment
    for label, value in (("offset past the end", past_end), ("offset overflowing", 2**64 - alignment)):
        data = bytearray(good)
        data[positions[-1]:positions[-1] + 8] = value.to_bytes(8, "little")
        check_failure(label, ztune, broken(label.replace(" ", "-"), bytes(data)), work, expect=last_name)
    data = bytearray(good)
    data[24:32] = (2**62).to_bytes(8, "little")  # the first metadata key's length
    check_failure("string length past the end", ztune, broken("string-length", bytes(data)), work)
    check_failure("bad magic", ztune, broken("magic", b"GGUX" + good[4:]), work, expect="not a GGUF file")
    # SentencePiece ("llama") vocabularies import (check_gguf_spm.py); Unigram ("t5") ones do not.
    unigram = work / "broken-unigram.gguf"
    write_gguf(unigram, "llama", config, fixtures / "llama", f16, "default", tokenizer_model="t5")
    check_failure("Unigram (t5) tokenizer", ztune, unigram, work, expect="tokenizer.ggml.model")
    falcon = work / "broken-arch.gguf"
    write_gguf(falcon, "falcon", config, fixtures / "llama", f16, "llama-bpe")
    check_failure("unknown architecture", ztune, falcon, work, expect="general.architecture")

    header = ("file", "arch", "types", "tensors", "max |dlogits|", "greedy 8", "tokenizer / error")
    rows = [header] + [tuple(str(c) for c in row) for row in summary]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"{tensors_checked} tensors checked bit for bit against gguf.quants.dequantize, "
          f"{len(types_checked)} GGML types: {', '.join(sorted(types_checked))}")
    if failures:
        print(f"FAIL: {len(failures)} problems")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
