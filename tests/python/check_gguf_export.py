#!/usr/bin/env python3
"""`ztune export --to_gguf f16|bf16|q8_0`: Hugging Face folders (and a merged LoRA checkpoint) out as GGUF files.

usage: check_gguf_export.py ZTUNE [FIXTURES_DIR [WORK_DIR [DATASET]]]

Writes the llama and qwen2 fixtures with `ztune export --model DIR --to_gguf TYPE --output_dir OUT`, and a LoRA
checkpoint trained for two steps on qwen2 with `ztune export --adapters CKPT --merge_lora true --to_gguf TYPE`, each
in f16, bf16 and q8_0. Also three SentencePiece folders (tokenizer.ggml.model llama), their tokenizer a BPE model
with byte fallback trained by sentencepiece on DATASET's folder (check_gguf_spm.py's), their weights the llama
fixture's with the vocabulary rows cut to its size:
  spm-llama2  Llama-2 layout: tokenizer.model, tokenizer.json as transformers converts it, tokenizer_config.json
              with added_tokens_decoder, add_bos_token and a chat template (_set_vocab_sentencepiece);
  spm-legacy  tokenizer.model only, added_tokens.json (one id inside vocab_size, one past it), add_eos_token, and
              a config.json vocab_size 32 past the model's pieces ([PADn] tokens);
  spm-hf      tokenizer.json only, as transformers 5 saves the spm-llama2 tokenizer (_set_vocab_llama_hf).
Each file is read with the `gguf` package's GGUFReader (not ztune's reader) and checked:
 (a) GGUF v3, alignment 32, every tensor offset aligned;
 (b) every metadata key and its GGUF value type, against what llama.cpp's convert_hf_to_gguf.py writes for the
     folder, worked out here from transformers' AutoConfig and AutoTokenizer and the `gguf` package
     (gguf.SpecialVocab, gguf.Metadata, check_gguf_import.vocab_base): no key missing, none extra, values equal;
     tokenizer.ggml.pre by the tokenizer's split rule (llama-bpe for Llama 3's regex, qwen2 for Qwen2's); for the
     SentencePiece folders tokens, scores and types as _create_vocab_sentencepiece makes them from the sentencepiece
     library's reading of tokenizer.model, or as gguf.LlamaHfVocab gives them, special tokens from
     gguf.SpecialVocab(n_vocab=...) without merges, tokenizer.ggml.pre "default";
 (c) every tensor: the name llama.cpp uses, the shape, the type (1-D tensors and norms F32, a Q8_0 matrix whose rows
     are not a multiple of 32 F16), and the bytes equal to gguf.quants.quantize of the folder's tensor after
     LlamaModel.permute on the llama q/k rows; gguf.quants.dequantize of the file equals the folder's values rounded
     to f16/bf16 exactly (q8_0: the dequantised quantize() result);
 (d) `ztune export --from_gguf FILE` gives back those dequantised tensors under their Hugging Face names, q/k
     unpermuted, and the folder's hyper-parameters;
 (e) llama.cpp (llama-cpp-python) loads each file: its tokenizer encodes a mixed corpus exactly as transformers does
     (SentencePiece: as the sentencepiece library does, on the corpus texts that neither start with a space nor
     hold an added token's text, where the two are meant to agree; spm-hf's scores are all -1000, so its
     tokenization is not compared),
     its logits over several prompts match transformers' on the folder within a type's rounding (f16 2% of the
     logits' spread, bf16 6%, q8_0 15%; a wrong permutation or tensor is off by the whole spread), and its greedy
     tokens (temperature 0, no penalties) equal transformers' greedy tokens on the folder up to the first step whose
     top-two logits lie within four times the largest logit difference measured (a near-tie that rounding may
     break either way; the tiny random fixtures have many), with at least 40 tokens compared per f16 file;
 (f) wrong uses exit 2 with a message: an unknown --to_gguf type, --to_gguf on an adapter without --merge_lora,
     broken tokenizer.model files (not a protobuf, truncated, a length past the end, no unknown piece) named in the
     message, a tokenizer.json whose added token ids leave a gap LlamaHfVocab would close, an architecture llama.cpp
     conversion does not cover here.
If llama_cpp cannot be imported the check FAILS (pip install -r requirements.txt builds llama-cpp-python).
Prints a summary table; exits 1 on any failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

try:
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFValueType as V
except ImportError:
    sys.exit("the `gguf` package is missing: pip install -r requirements.txt")

import torch
from safetensors.numpy import save_file as save_numpy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_gguf_import as gguf_import  # noqa: E402  (vocab_base, permute, reverse_permute, tensor names)
import check_gguf_spm as spm_fixture  # noqa: E402  (train_sentencepiece and the Llama-2 folder it is laid out in)
from token_parity import build_corpus  # noqa: E402

TYPES = {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0}
FILE_TYPES = {"f16": 1, "bf16": 32, "q8_0": 7}  # gguf.LlamaFileType
LOGIT_TOLERANCE = {"f16": 0.02, "bf16": 0.06, "q8_0": 0.15}  # x the logits' standard deviation
ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
                 "Qwen3ForCausalLM": "qwen3", "Qwen3MoeForCausalLM": "qwen3moe", "Qwen2MoeForCausalLM": "qwen2moe"}
PERMUTED = {"LlamaForCausalLM", "MistralForCausalLM"}
# tokenizer.ggml.pre by the tokenizer.json split rule (what llama.cpp then runs); llama.cpp's own converter
# hashes a test text's tokens, which names only released vocabularies.
PRE_BY_FIXTURE = {"llama": "llama-bpe", "qwen2": "qwen2"}
TEXTS = ["Hello world! How are you doing today?", "The year 2024 had 365 days; 3.14159 is pi, 1,000,000 more.",
         "  leading spaces\tand\ttabs\n\nnew lines\r\n", "na\u00efve caf\u00e9, \u00dcn\u00efc\u00f6d\u00e9 \u2014 "
         "\u201cquotes\u201d \u4f60\u597d\u4e16\u754c \U0001f680", "I've been 'told' he's there, 'RE you sure? We'Ve a'lL",
         "<|im_start|>user\nhi<|im_end|>\n<tool_call>{\"a\": 1}</tool_call>",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
         "def f(x):\n    return x**2  # comment", "x1y22z333w4444 12345678901234567890", "a" * 120]

failures = []
summary = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs)


# ---- what convert_hf_to_gguf.py writes for a folder ----

def special_vocab(model_dir, load_merges=True, n_vocab=None):
    """gguf.SpecialVocab as llama.cpp 0c1e570 (2026-10) reads a folder: the installed gguf 0.19.0 plus its two later
    rules for add_bos/add_eos/add_sep: a ByteLevel post-processor defaults them to false, and the post-processor's
    values win over tokenizer_config.json's add_*_token. _set_vocab_gpt2 loads merges; the SentencePiece paths
    pass n_vocab instead."""
    vocab = gguf.SpecialVocab(Path(model_dir), load_merges=load_merges, n_vocab=n_vocab)
    tokenizer_path = Path(model_dir) / "tokenizer.json"
    spec = json.loads(tokenizer_path.read_text()) if tokenizer_path.exists() else {}
    config_path = Path(model_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    # What the post-processor alone says: the same folder without tokenizer_config.json's add_*_token.
    with tempfile.TemporaryDirectory() as bare:
        if tokenizer_path.exists():
            shutil.copy(tokenizer_path, bare)
        shutil.copy(Path(model_dir) / "config.json", bare)
        stripped = {k: v for k, v in config.items() if not (k.startswith("add_") and k.endswith("_token"))}
        (Path(bare) / "tokenizer_config.json").write_text(json.dumps(stripped))
        from_post = dict(gguf.SpecialVocab(Path(bare), n_vocab=n_vocab).add_special_token)
    post = spec.get("post_processor") or {}
    add = {}
    if any(p.get("type") == "ByteLevel" for p in (post.get("processors", [post]) if post else [])):
        add = {"bos": False, "eos": False}
    add.update(from_post)
    for kind in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        if isinstance(config.get(f"add_{kind}_token"), bool):
            add.setdefault(kind, config[f"add_{kind}_token"])
    return vocab, add


def sentencepiece_vocab(model_dir, vocab_size):
    """TextModel._create_vocab_sentencepiece: the sentencepiece library's reading of tokenizer.model over vocab_size
    [PADn] ids, then added_tokens.json and tokenizer_config.json's added_tokens_decoder (ids past vocab_size left
    out)."""
    import sentencepiece
    processor = sentencepiece.SentencePieceProcessor(model_file=str(Path(model_dir) / "tokenizer.model"))
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [spm_fixture.TOKEN_UNUSED] * vocab_size
    for i in range(min(processor.vocab_size(), vocab_size)):
        kind = spm_fixture.TOKEN_NORMAL
        if processor.IsUnknown(i):
            kind = spm_fixture.TOKEN_UNKNOWN
        elif processor.IsControl(i):
            kind = spm_fixture.TOKEN_CONTROL
        elif processor.IsUnused(i):
            kind = spm_fixture.TOKEN_UNUSED
        elif processor.IsByte(i):
            kind = spm_fixture.TOKEN_BYTE
        tokens[i], scores[i], types[i] = processor.IdToPiece(i), processor.GetScore(i), kind
    added_path = Path(model_dir) / "added_tokens.json"
    if added_path.is_file():
        for token, i in json.loads(added_path.read_text()).items():
            if i < vocab_size:
                tokens[i], scores[i], types[i] = token, -1000.0, spm_fixture.TOKEN_USER_DEFINED
    config_path = Path(model_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    for i, data in config.get("added_tokens_decoder", {}).items():
        i, token = int(i), data["content"]
        if i >= vocab_size:
            continue
        if data.get("special") or gguf_import.does_token_look_special(token):
            types[i] = spm_fixture.TOKEN_CONTROL
        else:
            token = token.replace("\u2581", " ")
            types[i] = spm_fixture.TOKEN_USER_DEFINED
        tokens[i], scores[i] = token, -1000.0
    return tokens, scores, types


def llama_hf_vocab(model_dir):
    """_set_vocab_llama_hf: gguf.LlamaHfVocab over the folder (transformers' reading of tokenizer.json)."""
    vocab = gguf.LlamaHfVocab(Path(model_dir))
    tokens, scores, types = [], [], []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text.decode("utf-8"))
        scores.append(score)
        types.append(int(kind))
    return tokens, scores, types


def expected_metadata(model_dir, out_type, total_params, kind="gpt2"):
    """key -> (GGUFValueType, value): convert_hf_to_gguf.py's keys for a llama/mistral/qwen2/qwen3 folder whose
    tokenizer takes `kind`'s path: gpt2 (_set_vocab_gpt2), spm (_set_vocab_sentencepiece) or llama-hf
    (_set_vocab_llama_hf)."""
    from transformers import AutoConfig, AutoTokenizer
    hp = AutoConfig.from_pretrained(model_dir).to_dict()
    hf_class = hp["architectures"][0]
    arch = ARCHITECTURES[hf_class]
    out = {"general.architecture": (V.STRING, arch), "general.type": (V.STRING, "model")}
    meta = gguf.Metadata.load(None, Path(model_dir), None, total_params)
    if meta.sampling_penalty_repeat is None:  # llama.cpp 0c1e570 also reads transformers' name for it
        meta.sampling_penalty_repeat = gguf.Metadata.load_generation_config(Path(model_dir)).get("repetition_penalty")
    sampling = [("sequence", V.STRING), ("top_k", V.INT32), ("top_p", V.FLOAT32), ("min_p", V.FLOAT32),
                ("xtc_probability", V.FLOAT32), ("xtc_threshold", V.FLOAT32), ("temp", V.FLOAT32),
                ("penalty_last_n", V.INT32), ("penalty_repeat", V.FLOAT32), ("mirostat", V.INT32),
                ("mirostat_tau", V.FLOAT32), ("mirostat_eta", V.FLOAT32)]
    for name, vtype in sampling:
        value = getattr(meta, f"sampling_{name}")
        if value is not None:
            out[f"general.sampling.{name}"] = (vtype, value)
    out["general.name"] = (V.STRING, meta.name or Path(model_dir).name)
    for field in ("author", "version", "organization", "finetune", "basename", "description"):
        if getattr(meta, field) is not None:
            out[f"general.{field}"] = (V.STRING, getattr(meta, field))
    out["general.size_label"] = (V.STRING, meta.size_label or gguf.size_label(total_params, 0, 0, 0))

    a = arch + "."
    out[a + "block_count"] = (V.UINT32, hp["num_hidden_layers"])
    out[a + "context_length"] = (V.UINT32, hp["max_position_embeddings"])
    out[a + "embedding_length"] = (V.UINT32, hp["hidden_size"])
    out[a + "feed_forward_length"] = (V.UINT32, hp["intermediate_size"])
    out[a + "attention.head_count"] = (V.UINT32, hp["num_attention_heads"])
    out[a + "attention.head_count_kv"] = (V.UINT32, hp["num_key_value_heads"])
    rope = hp.get("rope_parameters") or {}
    rope = rope.get("full_attention", rope)
    if rope.get("rope_type") == "linear" and rope.get("factor") is not None:
        out[a + "rope.scaling.type"] = (V.STRING, "linear")
        out[a + "rope.scaling.factor"] = (V.FLOAT32, rope["factor"])
    elif rope.get("rope_type") == "yarn" and rope.get("factor") is not None:
        out[a + "rope.scaling.type"] = (V.STRING, "yarn")
        out[a + "rope.scaling.factor"] = (V.FLOAT32, rope["factor"])
        out[a + "rope.scaling.original_context_length"] = (V.UINT32, rope["original_max_position_embeddings"])
    if rope.get("rope_theta") is not None:
        out[a + "rope.freq_base"] = (V.FLOAT32, rope["rope_theta"])
    out[a + "attention.layer_norm_rms_epsilon"] = (V.FLOAT32, hp["rms_norm_eps"])
    if hp.get("head_dim") is not None:
        out[a + "attention.key_length"] = (V.UINT32, hp["head_dim"])
        out[a + "attention.value_length"] = (V.UINT32, hp["head_dim"])
    out["general.file_type"] = (V.UINT32, FILE_TYPES[out_type])
    if arch == "llama":
        out[a + "vocab_size"] = (V.UINT32, hp["vocab_size"])
        out[a + "rope.dimension_count"] = (V.UINT32, hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
    out["general.quantization_version"] = (V.UINT32, 2)

    config_path = Path(model_dir) / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if arch == "llama" and isinstance(tokenizer_config.get("add_prefix_space"), bool):  # LlamaModel.set_vocab
        out["tokenizer.ggml.add_space_prefix"] = (V.BOOL, tokenizer_config["add_prefix_space"])
    if kind == "gpt2":
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        tokens, types = gguf_import.vocab_base(tokenizer, hp["vocab_size"])
        out["tokenizer.ggml.model"] = (V.STRING, "gpt2")
        out["tokenizer.ggml.tokens"] = (V.STRING, tokens)
        out["tokenizer.ggml.token_type"] = (V.INT32, types)
        vocab, add = special_vocab(model_dir)
    else:
        tokens, scores, types = (sentencepiece_vocab(model_dir, hp["vocab_size"]) if kind == "spm"
                                 else llama_hf_vocab(model_dir))
        out["tokenizer.ggml.model"] = (V.STRING, "llama")
        out["tokenizer.ggml.tokens"] = (V.STRING, tokens)
        out["tokenizer.ggml.scores"] = (V.FLOAT32, scores)
        out["tokenizer.ggml.token_type"] = (V.INT32, types)
        vocab, add = special_vocab(model_dir, load_merges=False, n_vocab=len(tokens))
    if vocab.merges:
        out["tokenizer.ggml.merges"] = (V.STRING, vocab.merges)
    id_keys = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
               "pad": "padding_token_id", "mask": "mask_token_id", "eot": "eot_token_id", "eom": "eom_token_id"}
    for kind, token_id in vocab.special_token_ids.items():
        if kind in id_keys:
            out["tokenizer.ggml." + id_keys[kind]] = (V.UINT32, token_id)
    for kind, value in add.items():
        if kind in ("bos", "eos", "sep"):
            out[f"tokenizer.ggml.add_{kind}_token"] = (V.BOOL, value)
    if isinstance(vocab.chat_template, str):
        out["tokenizer.chat_template"] = (V.STRING, vocab.chat_template)
    return out, hp


def field_value(field):
    value = field.contents()
    return [v.item() if hasattr(v, "item") else v for v in value] if isinstance(value, list) else value


def check_metadata(label, reader, expected, pre):
    got = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    want = dict(expected)
    want["tokenizer.ggml.pre"] = (V.STRING, pre)
    if sorted(got) != sorted(want):
        fail(f"{label}: metadata keys differ: extra {sorted(set(got) - set(want))}, missing {sorted(set(want) - set(got))}")
    same = 0
    for key, (vtype, value) in want.items():
        if key not in got:
            continue
        field = got[key]
        ftype = field.types[-1] if field.types[0] == V.ARRAY else field.types[0]
        mine = field_value(field)
        if vtype == V.FLOAT32:
            equal = np.array_equal(np.asarray(mine, dtype=np.float32), np.asarray(value, dtype=np.float32))
        else:
            equal = mine == value
        if ftype != vtype or not equal:
            shown = mine if not isinstance(mine, list) else f"[{len(mine)} items] {mine[:3]}"
            want_shown = value if not isinstance(value, list) else f"[{len(value)} items] {value[:3]}"
            fail(f"{label}: metadata {key} is {ftype.name} {shown!r:.120}, expected {vtype.name} {want_shown!r:.120}")
        else:
            same += 1
    return same, len(want)


def hf_to_gguf_name(name):
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if name in fixed:
        return fixed[name]
    parts = name.split(".")
    module, kind = ".".join(parts[3:]).rsplit(".", 1)
    qk_norm = {"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}
    gguf_module = qk_norm.get(module) or next(g for g, hf in gguf_import.GGUF_TO_HF.items() if hf == module)
    return f"blk.{parts[2]}.{gguf_module}.{kind}"


def expected_tensors(model_dir, hp, out_type):
    """GGUF name -> (type, float32 values after the permutation, the bytes quantize() gives), in llama.cpp's rules."""
    permute = hp["architectures"][0] in PERMUTED
    out = {}
    for name, array in sorted(gguf_import.read_weights(model_dir).items()):
        if name.endswith(".rotary_emb.inv_freq"):
            continue
        values = array.astype(np.float32)
        gguf_name = hf_to_gguf_name(name)
        if permute and (".q_proj." in name or ".k_proj." in name):
            heads = hp["num_attention_heads"]
            values = gguf_import.permute(values, heads, heads if ".q_proj." in name else hp["num_key_value_heads"])
        if values.ndim <= 1 or gguf_name.endswith("_norm.weight") or not gguf_name.endswith(".weight"):
            qtype = Q.F32
        elif TYPES[out_type] == Q.Q8_0 and values.shape[-1] % 32 != 0:
            qtype = Q.F16
        else:
            qtype = TYPES[out_type]
        out[gguf_name] = (qtype, np.ascontiguousarray(values), gguf.quants.quantize(values, qtype))
    return out


def check_tensors(label, reader, expected):
    names = [t.name for t in reader.tensors]
    if sorted(names) != sorted(expected):
        fail(f"{label}: tensors differ: extra {sorted(set(names) - set(expected))}, missing {sorted(set(expected) - set(names))}")
    exact = 0
    for tensor in reader.tensors:
        if tensor.name not in expected:
            continue
        qtype, values, quantized = expected[tensor.name]
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        data = np.asarray(tensor.data)
        problem = None
        if tensor.tensor_type != qtype:
            problem = f"type {tensor.tensor_type.name}, expected {qtype.name}"
        elif shape != values.shape:
            problem = f"shape {list(shape)}, expected {list(values.shape)}"
        elif data.tobytes() != np.ascontiguousarray(quantized).tobytes():
            problem = f"bytes differ from gguf.quants.quantize({qtype.name})"
        else:
            mine = gguf.quants.dequantize(data, qtype).astype(np.float32).reshape(shape)
            if qtype == Q.F16:
                want = values.astype(np.float16).astype(np.float32)
            elif qtype == Q.BF16:
                want = torch.from_numpy(values).to(torch.bfloat16).float().numpy()
            elif qtype == Q.F32:
                want = values
            else:
                want = gguf.quants.dequantize(quantized, qtype).reshape(shape)
            if not np.array_equal(mine.view(np.uint32), want.view(np.uint32)):
                problem = f"dequantised values differ at {np.count_nonzero(mine != want)} places"
        if problem:
            fail(f"{label}: tensor {tensor.name}: {problem}")
        else:
            exact += 1
        if tensor.data_offset % 32 != 0:
            fail(f"{label}: tensor {tensor.name} at offset {tensor.data_offset}, not a multiple of 32")
    return exact, len(expected)


def check_round_trip(label, ztune, gguf_path, reader, hp, work):
    out = work / f"{label}-roundtrip"
    shutil.rmtree(out, ignore_errors=True)
    result = run([ztune, "export", "--from_gguf", gguf_path, "--output_dir", out])
    if result.returncode != 0:
        fail(f"{label}: --from_gguf exited {result.returncode}: {(result.stdout + result.stderr).strip()[-400:]}")
        return "FAILED"
    got = gguf_import.read_weights(out)
    permute = hp["architectures"][0] in PERMUTED
    same = 0
    for tensor in reader.tensors:
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        values = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).astype(np.float32).reshape(shape)
        if permute and (".attn_q." in tensor.name or ".attn_k." in tensor.name):
            heads = hp["num_attention_heads"]
            values = gguf_import.reverse_permute(values, heads, heads if ".attn_q." in tensor.name else hp["num_key_value_heads"])
        hf_name = gguf_import.gguf_to_hf_name(tensor.name)
        mine = got.get(hf_name)
        if mine is None or mine.shape != values.shape or not np.array_equal(mine.view(np.uint32), values.view(np.uint32)):
            fail(f"{label}: round trip: {hf_name} differs from the file's dequantised tensor")
        else:
            same += 1
    config = json.loads((out / "config.json").read_text())
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                "vocab_size", "rms_norm_eps", "max_position_embeddings"):
        if config.get(key) != hp.get(key):
            fail(f"{label}: round trip: config.json {key} = {config.get(key)}, the folder's is {hp.get(key)}")
    if same != len(reader.tensors) or len(got) != len(reader.tensors):
        fail(f"{label}: round trip: {same} of {len(reader.tensors)} tensors equal, {len(got)} in the folder")
    return f"{same}/{len(reader.tensors)}"


# ---- llama.cpp ----

def hf_greedy_and_gaps(model, prompt, steps):
    ids = torch.tensor([prompt])
    tokens, gaps = [], []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=ids).logits[0, -1]
            top = torch.topk(logits, 2).values
            gaps.append(float(top[0] - top[1]))
            tokens.append(int(logits.argmax()))
            ids = torch.cat([ids, torch.tensor([[tokens[-1]]])], dim=1)
    return tokens, gaps


def token_cases(model_dir, kind, sample_dir):
    """(text, ids the reference tokenizer gives) for llama.cpp's tokenizer to match: transformers' for a gpt2
    vocabulary; for a tokenizer.model, the sentencepiece library's on the texts where llama.cpp is meant to agree with
    it (no leading space, no added token's text: llama.cpp adds a \u2581 after a special token and matches added
    tokens inside text, sentencepiece does neither); none for LlamaHfVocab's, whose scores are all -1000."""
    if kind == "gpt2":
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        return [(text, tokenizer.encode(text, add_special_tokens=False)) for text in TEXTS]
    if kind != "spm":
        return []
    import sentencepiece
    processor = sentencepiece.SentencePieceProcessor(model_file=str(Path(model_dir) / "tokenizer.model"))
    added = list(SPM_ADDED)
    if (Path(model_dir) / "added_tokens.json").is_file():
        added += list(json.loads((Path(model_dir) / "added_tokens.json").read_text()))
    texts = TEXTS + [raw.decode("utf-8", errors="replace") for raw in build_corpus(2000, SPM_ADDED, sample_dir)]
    return [(text, processor.encode(text)) for text in texts
            if not text.startswith(" ") and not any(token in text for token in added)]


def check_llama_cpp(label, llama_cpp, gguf_path, model_dir, out_type, cases):
    from transformers import AutoModelForCausalLM
    # The tokenizer: tokens, types, scores or merges and tokenizer.ggml.pre at work.
    vocab_only = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    bad = 0
    for text, want in cases:
        got = vocab_only.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if got != want:
            bad += 1
            if bad <= 5:
                fail(f"{label}: llama.cpp tokenizes {text[:40]!r} as {got[:10]}, the reference as {want[:10]}")
    if bad > 5:
        fail(f"{label}: llama.cpp's tokens differ from the reference's on {bad} of {len(cases)} texts")
    tokenized = f"tok {len(cases) - bad}/{len(cases)}" if cases else "tok -"
    del vocab_only

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=False, n_ctx=256, logits_all=True, verbose=False)
    vocab = model.config.vocab_size
    rng = np.random.default_rng(7)
    prompts = [[int(t) for t in rng.integers(0, min(vocab, 1800), n)] for n in (3, 5, 6, 8, 10, 12)]
    worst = worst_abs = 0.0
    for prompt in prompts:
        llm.reset()
        llm.eval(prompt)
        got = np.array(llm.scores[:len(prompt)], dtype=np.float32)
        with torch.no_grad():
            want = model(input_ids=torch.tensor([prompt])).logits[0].numpy()
        worst = max(worst, float(np.abs(got - want).max() / want.std()))
        worst_abs = max(worst_abs, float(np.abs(got - want).max()))
    if worst > LOGIT_TOLERANCE[out_type]:
        fail(f"{label}: llama.cpp's logits differ from transformers' by {worst:.3f} x their spread "
             f"(tolerance {LOGIT_TOLERANCE[out_type]})")
    if out_type != "f16":
        return f"{tokenized}, logits {worst:.4f}", "-"

    # Greedy tokens, compared up to the first near-tie that rounding may break either way: two logits closer than
    # four times the largest logit difference seen above.
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=False, n_ctx=256, logits_all=False, verbose=False)
    steps, compared, full = 16, 0, 0
    margin = max(4 * worst_abs, 1e-4)
    for prompt in prompts:
        want, gaps = hf_greedy_and_gaps(model, prompt, steps)
        got = []
        for token in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            got.append(int(token))
            if len(got) == steps:
                break
        decisive = next((i for i, gap in enumerate(gaps) if gap < margin), steps)
        if got[:decisive] != want[:decisive]:
            fail(f"{label}: llama.cpp's greedy tokens {got[:decisive]} differ from transformers' {want[:decisive]} "
                 f"for prompt {prompt}")
        compared += decisive
        full += decisive == steps
    if compared < 40:
        fail(f"{label}: only {compared} greedy tokens were decisive enough to compare (need 40)")
    return f"{tokenized}, logits {worst:.4f}", f"{compared} tokens ({full}/{len(prompts)} full)"


# ---- SentencePiece folders ----

SPM_ADDED = spm_fixture.ADDED


def save_cut_weights(folder, fixtures, vocab_size):
    """The llama fixture's weights with the vocabulary rows cut to vocab_size (check_gguf_spm.model_tensors' cut), as
    the folder's model.safetensors."""
    weights = gguf_import.read_weights(fixtures / "llama")
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        if name in weights:
            weights[name] = np.ascontiguousarray(weights[name][:vocab_size])
    save_numpy(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})


def make_spm_folders(work, fixtures, sample_dir):
    """[(label, folder, kind)] for the three SentencePiece folders the docstring lists."""
    from transformers import AutoTokenizer
    modern, old, num_pieces = spm_fixture.make_sources(work / "spm-sources", fixtures, sample_dir)
    llama2, legacy, hf = work / "spm-llama2", work / "spm-legacy", work / "spm-hf"
    for folder in (llama2, legacy, hf):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(modern, llama2)
    save_cut_weights(llama2, fixtures, num_pieces)

    shutil.copytree(old, legacy)
    config = json.loads((legacy / "config.json").read_text())
    config["vocab_size"] = num_pieces + 32
    (legacy / "config.json").write_text(json.dumps(config, indent=2))
    (legacy / "added_tokens.json").write_text(json.dumps({"<|user|>": 4, "<extra>": num_pieces + 10,
                                                         "<past>": num_pieces + 40}))
    save_cut_weights(legacy, fixtures, num_pieces + 32)

    AutoTokenizer.from_pretrained(modern).save_pretrained(hf)
    (hf / "tokenizer.model").unlink(missing_ok=True)
    shutil.copy(modern / "config.json", hf)
    save_cut_weights(hf, fixtures, num_pieces)
    return [("spm-llama2", llama2, "spm"), ("spm-legacy", legacy, "spm"), ("spm-hf", hf, "llama-hf")]


def check_failure(label, args, expect):
    result = run(args)
    output = result.stdout + result.stderr
    if result.returncode != 2 or expect not in output or "check failed" in output:
        fail(f"wrong use '{label}': exit {result.returncode}, expected 2 with {expect!r}; output: {output.strip()[-300:]}")
    summary.append((f"error: {label}", "-", f"exit {result.returncode}", "-", "-", "-", "-"))


def arguments(usage, work_prefix):
    """ZTUNE [FIXTURES_DIR [WORK_DIR [DATASET]]] from the command line (WORK_DIR emptied), and the llama_cpp module
    (None, and a failure recorded, when it does not import)."""
    if len(sys.argv) < 2:
        sys.exit(usage)
    ztune = sys.argv[1]
    fixtures = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parent / "fixtures" / "out"
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp(prefix=work_prefix))
    dataset = Path(sys.argv[4]) if len(sys.argv) > 4 else HERE.parent.parent / "data" / "sample" / "sharegpt_seed.jsonl"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        import llama_cpp
    except ImportError as error:
        llama_cpp = None
        fail(f"llama_cpp does not import ({error}): install it with `pip install -r requirements.txt` (it builds "
             "llama-cpp-python from source: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install llama-cpp-python==0.3.36)")
    return ztune, fixtures, work, dataset, llama_cpp


def report():
    """Prints the summary table; exits 1 on any failure."""
    header = ("file", "type", "metadata", "tensors (bytes)", "round trip", "llama.cpp tokens / logits", "greedy")
    rows = [header] + [tuple(str(c) for c in row) for row in summary]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    if failures:
        print(f"FAIL: {len(failures)} problems")
        sys.exit(1)
    print("OK")


def main():
    ztune, fixtures, work, dataset, llama_cpp = arguments(__doc__, "ztune-gguf-out-")

    # A LoRA checkpoint of two steps on qwen2, merged as part of the export.
    train = work / "train"
    result = run([ztune, "sft", "--model", fixtures / "qwen2", "--dataset", dataset, "--max_steps", "2",
                  "--output_dir", train, "--add_version", "false", "--save_steps", "2"])
    checkpoint = train / "checkpoint-2"
    if result.returncode != 0 or not checkpoint.is_dir():
        fail(f"sft exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")

    # (label, folder, tokenizer path: gpt2, spm or llama-hf)
    folders = [(fixture, fixtures / fixture, "gpt2") for fixture in ("llama", "qwen2")]
    folders += make_spm_folders(work, fixtures, dataset.parent)
    jobs = []  # (label, folder the GGUF came from, type, gguf path, pre, tokenizer path)
    for name, folder, kind in folders:
        for out_type in TYPES:
            out = work / f"{name}-{out_type}"
            result = run([ztune, "export", "--model", folder, "--to_gguf", out_type, "--output_dir", out])
            path = out / f"{folder.name}-{out_type.upper()}.gguf"
            if result.returncode != 0 or not path.is_file():
                fail(f"{name} {out_type}: export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
                continue
            jobs.append((f"{name}-{out_type}", folder, out_type, path, PRE_BY_FIXTURE.get(name, "default"), kind))
    if checkpoint.is_dir():
        for out_type in TYPES:
            out = work / f"merged-{out_type}"
            result = run([ztune, "export", "--adapters", checkpoint, "--merge_lora", "true", "--to_gguf", out_type,
                          "--output_dir", out])
            path = out / f"merged-{out_type}-{out_type.upper()}.gguf"
            if result.returncode != 0 or not path.is_file():
                fail(f"merged {out_type}: export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
                continue
            jobs.append((f"merged-{out_type}", out, out_type, path, PRE_BY_FIXTURE["qwen2"], "gpt2"))

    for label, model_dir, out_type, path, pre, kind in jobs:
        reader = gguf.GGUFReader(str(path))
        version = int(reader.fields["GGUF.version"].contents())
        if version != 3 or reader.alignment != 32:
            fail(f"{label}: GGUF version {version}, alignment {reader.alignment}; expected 3 and 32")
        total_params = sum(int(np.prod(t.shape)) for t in reader.tensors)
        expected, hp = expected_metadata(model_dir, out_type, total_params, kind)
        keys_same, keys = check_metadata(label, reader, expected, pre)
        exact, count = check_tensors(label, reader, expected_tensors(model_dir, hp, out_type))
        round_trip = check_round_trip(label, ztune, path, reader, hp, work)
        llama_result, greedy = ("-", "-")
        if llama_cpp is not None:
            llama_result, greedy = check_llama_cpp(label, llama_cpp, path, model_dir, out_type,
                                                   token_cases(model_dir, kind, dataset.parent))
        summary.append((label, out_type, f"{keys_same}/{keys} keys", f"{exact}/{count} tensors", round_trip,
                        llama_result, greedy))

    # Wrong uses: each a clear error before anything is written.
    check_failure("--to_gguf q4_0", [ztune, "export", "--model", fixtures / "llama", "--to_gguf", "q4_0",
                                     "--output_dir", work / "bad-type"], "q4_0")
    if checkpoint.is_dir():
        check_failure("adapter without --merge_lora", [ztune, "export", "--adapters", checkpoint, "--to_gguf", "f16",
                                                        "--output_dir", work / "bad-adapter"], "--merge_lora true")
    # Broken SentencePiece folders: each an error naming the file, never a crash.
    llama2 = work / "spm-llama2"
    proto = (llama2 / "tokenizer.model").read_bytes()
    broken_models = [("tokenizer.model not a protobuf", b"\x00"),
                     ("tokenizer.model truncated", proto[:-1]),
                     ("tokenizer.model length past the end", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
                     ("tokenizer.model without an unknown piece", b"\x0a\x05\x0a\x01a\x18\x01")]
    for label, data in broken_models:
        folder = work / ("bad-" + label.replace(" ", "-"))
        shutil.copytree(llama2, folder)
        (folder / "tokenizer.model").write_bytes(data)
        check_failure(label, [ztune, "export", "--model", folder, "--to_gguf", "f16", "--output_dir", folder / "out"],
                      str(folder / "tokenizer.model"))
    gap = work / "bad-added-token-gap"
    shutil.copytree(work / "spm-hf", gap)
    spec = json.loads((gap / "tokenizer.json").read_text())
    spec["added_tokens"].append({"id": len(spec["model"]["vocab"]) + 5, "content": "<gap>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    (gap / "tokenizer.json").write_text(json.dumps(spec))
    check_failure("added token ids with a gap", [ztune, "export", "--model", gap, "--to_gguf", "f16", "--output_dir",
                                                 gap / "out"], "wrong id")
    other = work / "other-arch"
    shutil.copytree(fixtures / "llama", other)
    config = json.loads((other / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (other / "config.json").write_text(json.dumps(config))
    check_failure("unknown architecture", [ztune, "export", "--model", other, "--to_gguf", "f16", "--output_dir",
                                           work / "bad-arch"], "architectures")

    report()


if __name__ == "__main__":
    main()
