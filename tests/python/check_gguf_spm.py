#!/usr/bin/env python3
"""`ztune export --from_gguf FILE --output_dir DIR` on SentencePiece GGUF files (tokenizer.ggml.model "llama", as
llama.cpp writes Llama-2, Mistral-7B and TinyLlama).

usage: check_gguf_spm.py ZTUNE TOKENIZE_TOOL [FIXTURES_DIR [WORK_DIR [SAMPLE_DIR]]]

TOKENIZE_TOOL is ztune_tokenize_corpus (ztune's tokenizer, given the exported folder).

The files are made independently of ztune: sentencepiece (the library) trains a small BPE model with byte fallback
on the sample data (fixed options, one thread: deterministic), laid out as a Llama-2 Hugging Face folder
(tokenizer.model, tokenizer.json from transformers' conversion, a Llama-2-style tokenizer_config.json); the GGUF
is written with the `gguf` package as llama.cpp's convert_hf_to_gguf.py does: _set_vocab_sentencepiece (tokens,
scores and types from the model, CONTROL/USER_DEFINED from added_tokens_decoder, special ids, add_bos/add_eos and
the chat template from gguf.SpecialVocab) or _set_vocab_llama_hf, its fallback for a folder without
tokenizer.model (gguf.LlamaHfVocab over tokenizer.json: every score -1000). Weights are the tiny llama fixture's, its vocabulary rows cut to the
SentencePiece model's size, q/k permuted as LlamaModel.permute does.

Files (label: what it covers):
  spm         Llama-2 layout: <unk>/<s>/</s>/<|end|> CONTROL, <|user|> USER_DEFINED, add_bos_token, a chat template;
  spm-old     an older folder without added_tokens_decoder: <unk> UNKNOWN, <|user|> NORMAL, no bos added, eos added;
  spm-merges  spm with tokenizer.ggml.merges written (SpecialVocab(load_merges=True)): the file's merges are used;
  llama-hf    _set_vocab_llama_hf: no scores worth the name (all -1000), so merge order falls to the tie rules.
Broken files (no scores nor merges; a SentencePiece vocabulary in a qwen2 model) must exit 2 naming the file.

The reference is transformers' own reading of the GGUF (AutoTokenizer.from_pretrained(dir, gguf_file=...)),
which is what a user of the GGUF in transformers and ms-swift gets. For each file:
 (a) every tensor equals the `gguf` package's dequantisation, q/k unpermuted; the folder's logits equal
     transformers' GGUF-loaded model's (1e-5);
 (b) tokenizer.json's vocab, merges, added tokens, normalizer, pre-tokenizer and decoder equal transformers'
     backend tokenizer's; the post-processor adds <s>/</s> as tokenizer.ggml.add_bos_token/add_eos_token say
     (transformers' GGUF loader ignores both flags; llama.cpp follows them, and so does the folder);
 (c) ztune's tokenizer on the folder gives transformers' ids and decodes on the parity corpus (sample data,
     random mixed-script strings, whitespace runs, the added tokens inside text, invalid UTF-8);
 (d) transformers on the folder gives the same ids, the same ids with special tokens (plus bos/eos per the flags,
     as llama.cpp's tokenize(add_special) gives), the same decodes and the same chat template rendering.
Reported, and for the SentencePiece-scored files required: on every corpus text that neither starts with a space
nor contains an added token's text, sentencepiece, llama.cpp and transformers give the same ids. Elsewhere they
differ by design: transformers' Metaspace adds no "\u2581" before text that starts with a space (sentencepiece and
llama.cpp add one), llama.cpp adds a "\u2581" after every special token, and sentencepiece matches no control
token in text. ztune follows transformers, the tokenizer a Hugging Face user trains with.
Exits 1 on any failure.
"""
import ctypes
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_gguf_import as gi  # noqa: E402
from token_parity import build_corpus, read_output, write_records  # noqa: E402

try:
    import gguf
    import sentencepiece
except ImportError as error:
    sys.exit(f"{error.name} is missing: pip install -r requirements.txt")

import torch  # noqa: E402

TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6
ADDED = ["<unk>", "<s>", "</s>", "<|end|>", "<|user|>"]
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
                 "{% elif m['role'] == 'system' %}{{ '<<SYS>>\\n' + m['content'] + '\\n<</SYS>>\\n\\n' }}"
                 "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}")

failures = []
summary = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


# ---- the source folders, as a Hugging Face Llama-2 repository holds them ----

def sample_texts(sample_dir):
    texts = []

    def collect(value):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for key in sorted(value):
                collect(value[key])

    for path in sorted(Path(sample_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                collect(json.loads(line))
    return [text.replace("\n", " ") for text in texts if text.strip()]


def train_sentencepiece(sample_dir):
    """A BPE model with Llama-2's options (byte fallback, digits split, whitespace-only pieces, no normalisation)."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sample_texts(sample_dir)), model_writer=model, model_type="bpe", vocab_size=800,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", character_coverage=1.0, num_threads=1, shuffle_input_sentence=False,
        input_sentence_size=0, control_symbols=["<|end|>"], user_defined_symbols=["<|user|>"], minloglevel=2)
    return model.getvalue()


def make_sources(work, fixtures, sample_dir):
    """(Llama-2-style folder, older folder without added_tokens_decoder, vocabulary size)."""
    from transformers import LlamaTokenizer
    proto = train_sentencepiece(sample_dir)
    vocab_size = sentencepiece.SentencePieceProcessor(model_proto=proto).vocab_size()
    config = json.loads((fixtures / "llama" / "config.json").read_text())
    config.update(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=None)

    modern, old = work / "source", work / "source-old"
    for folder in (modern, old):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "tokenizer.model").write_bytes(proto)
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    # tokenizer.json as transformers converts tokenizer.model; tokenizer_config.json as Llama-2's repository has it.
    LlamaTokenizer.from_pretrained(modern).save_pretrained(modern)

    def entry(content, special):
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                "special": special}
    (modern / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": None, "legacy": False, "tokenizer_class": "LlamaTokenizer", "clean_up_tokenization_spaces": False,
        "model_max_length": 2048, "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {str(i): entry(t, t != "<|user|>") for i, t in enumerate(ADDED)}}, indent=2))
    (old / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": False, "add_eos_token": True}))
    return modern, old, vocab_size


# ---- the converter's side (convert_hf_to_gguf.py) ----

def vocab_sentencepiece(folder, vocab_size):
    """TextModel._create_vocab_sentencepiece()."""
    processor = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    tokens = [f"[PAD{i}]".encode() for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [TOKEN_UNUSED] * vocab_size
    for i in range(processor.vocab_size()):
        kind = TOKEN_NORMAL
        if processor.IsUnknown(i):
            kind = TOKEN_UNKNOWN
        elif processor.IsControl(i):
            kind = TOKEN_CONTROL
        elif processor.IsUnused(i):
            kind = TOKEN_UNUSED
        elif processor.IsByte(i):
            kind = TOKEN_BYTE
        tokens[i], scores[i], types[i] = processor.IdToPiece(i).encode(), processor.GetScore(i), kind
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for i, data in config.get("added_tokens_decoder", {}).items():
        i, token = int(i), data["content"]
        if data.get("special") or gi.does_token_look_special(token):
            types[i] = TOKEN_CONTROL
        else:
            token = token.replace("\u2581", " ")
            types[i] = TOKEN_USER_DEFINED
        scores[i] = -1000.0
        tokens[i] = token.encode()
    return tokens, scores, types


def vocab_llama_hf(folder):
    """TextModel._set_vocab_llama_hf()'s vocabulary: gguf.LlamaHfVocab over tokenizer.json."""
    vocab = gguf.LlamaHfVocab(folder)
    tokens, scores, types = [], [], []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(int(kind))
    return tokens, scores, types


def model_tensors(fixtures, vocab_size):
    """The llama fixture's weights, vocabulary rows cut to vocab_size, under GGUF names, q/k permuted."""
    config = json.loads((fixtures / "llama" / "config.json").read_text())
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    out = {}
    for name, array in sorted(gi.read_weights(fixtures / "llama").items()):
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            array = array[:vocab_size]
        if ".q_proj." in name or ".k_proj." in name:
            array = gi.permute(array, n_head, n_head if ".q_proj." in name else n_kv)
        out[gi.hf_to_gguf_name(name)] = np.ascontiguousarray(array, dtype=np.float32)
    return out


def write_gguf(path, folder, tensors, vocab, arch="llama", load_merges=False, scores=True):
    config = json.loads((folder / "config.json").read_text())
    tokens, token_scores, types = vocab
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    gi.add_model_metadata(writer, arch, config, len(tokens), "ztune SentencePiece fixture")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    if scores:
        writer.add_token_scores(token_scores)
    writer.add_token_types(types)
    gguf.SpecialVocab(folder, load_merges=load_merges, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def gguf_flags(path):
    reader = gguf.GGUFReader(str(path))
    value = lambda key: reader.fields[key].contents() if key in reader.fields else None  # noqa: E731
    return {key: value(f"tokenizer.ggml.{key}") for key in
            ("bos_token_id", "eos_token_id", "add_bos_token", "add_eos_token", "merges")}


# ---- the checks ----

def check_weights(label, gguf_path, out):
    """(a): tensors bit for bit, and logits against transformers' own loading of the GGUF."""
    from transformers import AutoModelForCausalLM
    exact = gi.check_tensors(label, gguf_path, "llama", out)
    mine = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    theirs = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32).eval()
    batch = torch.randint(0, mine.config.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (mine(input_ids=batch).logits - theirs(input_ids=batch).logits).abs().max().item()
    if diff > 1e-5:
        fail(f"{label}: logits differ from transformers' GGUF-loaded model by {diff:.3g}")
    return exact, diff


def check_tokenizer_json(label, out, reference, flags):
    """(b): the folder's tokenizer.json against transformers' backend tokenizer for the GGUF."""
    mine = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    theirs = json.loads(reference.backend_tokenizer.to_str())
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        if mine.get(key) != theirs.get(key):
            fail(f"{label}: tokenizer.json {key} is {mine.get(key)}, transformers' {theirs.get(key)}")
    for key in ("type", "unk_token", "fuse_unk", "byte_fallback", "ignore_merges", "vocab"):
        if mine["model"].get(key) != theirs["model"].get(key):
            shown = "differs" if key == "vocab" else f"is {mine['model'].get(key)!r}, transformers' {theirs['model'].get(key)!r}"
            fail(f"{label}: tokenizer.json model.{key} {shown}")
    ours_merges = [list(m) if isinstance(m, list) else m.split(" ", 1) for m in mine["model"]["merges"]]
    if ours_merges != theirs["model"]["merges"]:
        first = next((i for i, (a, b) in enumerate(zip(ours_merges, theirs["model"]["merges"])) if a != b),
                     min(len(ours_merges), len(theirs["model"]["merges"])))
        fail(f"{label}: {len(ours_merges)} merges, transformers {len(theirs['model']['merges'])}; first difference at "
             f"{first}: {ours_merges[first:first + 3]} vs {theirs['model']['merges'][first:first + 3]}")
    added = lambda spec: sorted((t["id"], t["content"], t["special"], t["normalized"]) for t in spec["added_tokens"])  # noqa: E731
    if added(mine) != added(theirs):
        fail(f"{label}: added tokens {added(mine)}, transformers {added(theirs)}")
    # The post-processor: what llama.cpp adds for the file's flags.
    single = mine["post_processor"]["single"]
    names = [item["SpecialToken"]["id"] for item in single if "SpecialToken" in item]
    by_id = {i: t for t, i in mine["model"]["vocab"].items()}
    want = ([by_id[flags["bos_token_id"]]] if flags["add_bos_token"] else []) + \
           ([by_id[flags["eos_token_id"]]] if flags["add_eos_token"] else [])
    if names != want:
        fail(f"{label}: the post-processor adds {names}, the file's flags say {want}")
    return len(ours_merges)


def run_tool(tool, out, corpus, work):
    work.mkdir(parents=True, exist_ok=True)
    write_records(work / "corpus.bin", corpus)
    result = subprocess.run([tool, str(out), str(work / "corpus.bin"), str(work / "ids.bin")], capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        fail(f"ztune_tokenize_corpus on {out} exited {result.returncode}: {(result.stdout + result.stderr).strip()[-400:]}")
        return None, None
    return read_output(work / "ids.bin", len(corpus))


def check_ids(label, tool, out, reference, corpus, work, flags):
    """(c) ztune's ids and decodes; (d) transformers on the folder: ids, special tokens, decodes, chat template."""
    from transformers import AutoTokenizer
    backend = reference.backend_tokenizer
    texts = [raw.decode("utf-8", errors="replace") for raw in corpus]
    want = [backend.encode(text, add_special_tokens=False).ids for text in texts]
    ours, our_texts = run_tool(tool, out, corpus, work)
    tool_bad = 0
    if ours is not None:
        for i, text in enumerate(texts):
            message = None
            if ours[i] != want[i]:
                message = f"ztune encodes {text[:50]!r} as {ours[i][:12]}, transformers as {want[i][:12]}"
            elif our_texts[i] != backend.decode(want[i], skip_special_tokens=False):
                message = (f"ztune decodes {want[i][:12]} as {our_texts[i][:50]!r}, transformers as "
                           f"{backend.decode(want[i], skip_special_tokens=False)[:50]!r}")
            if message:
                tool_bad += 1
                if tool_bad <= 5:
                    fail(f"{label}: {message}")
        if tool_bad:
            fail(f"{label}: ztune's tokenizer differs from transformers' on {tool_bad} of {len(texts)} texts")

    folder = AutoTokenizer.from_pretrained(out)
    bos = [flags["bos_token_id"]] if flags["add_bos_token"] else []
    eos = [flags["eos_token_id"]] if flags["add_eos_token"] else []
    folder_bad = 0
    for text, ids in zip(texts, want):
        message = None
        if folder.encode(text, add_special_tokens=False) != ids:
            message = f"the folder encodes {text[:50]!r} as {folder.encode(text, add_special_tokens=False)[:12]}, the GGUF as {ids[:12]}"
        elif folder.encode(text) != bos + ids + eos:
            message = f"with special tokens {text[:40]!r} -> {folder.encode(text)[:6]}..., expected {(bos + ids + eos)[:6]}..."
        elif folder.decode(ids) != reference.decode(ids):
            message = f"the folder decodes {ids[:12]} as {folder.decode(ids)[:50]!r}, the GGUF as {reference.decode(ids)[:50]!r}"
        if message:
            folder_bad += 1
            if folder_bad <= 5:
                fail(f"{label}: {message}")
    if folder_bad:
        fail(f"{label}: transformers on the folder differs from transformers on the GGUF on {folder_bad} texts")
    if reference.chat_template:
        chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]
        a = folder.apply_chat_template(chat, tokenize=False)
        b = reference.apply_chat_template(chat, tokenize=False)
        if a != b:
            fail(f"{label}: the chat template renders {a[:80]!r}, the GGUF's {b[:80]!r}")
    return f"{len(texts) - tool_bad}/{len(texts)}", f"{len(texts) - folder_bad}/{len(texts)}"


def compare_references(label, llama_cpp, gguf_path, source, reference, corpus, flags, require):
    """Reported (and required where `require`): sentencepiece, llama.cpp and transformers agree on every text
    without a leading space or an added token's text; where they differ, and whether llama.cpp's special tokens
    equal the folder's."""
    processor = sentencepiece.SentencePieceProcessor(model_file=str(source / "tokenizer.model"))
    vocab = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    counts = Counter()
    bad = 0
    for raw in corpus:
        text = raw.decode("utf-8", errors="replace")
        hf = reference.backend_tokenizer.encode(text, add_special_tokens=False).ids
        spm = processor.encode(text)
        llama = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        plain = not text.startswith(" ") and not any(token in text for token in ADDED)
        kind = "plain" if plain else "leading space" if text.startswith(" ") else "added token"
        counts[kind, "spm", spm == hf] += 1
        counts[kind, "llama.cpp", llama == hf] += 1
        if plain and require and not (spm == hf == llama):
            bad += 1
            if bad <= 3:
                fail(f"{label}: on {text[:50]!r} transformers gives {hf[:10]}, sentencepiece {spm[:10]}, llama.cpp {llama[:10]}")
        # llama.cpp's add_special follows the file's add_bos_token/add_eos_token, as the folder does.
        with_special = vocab.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        expected = ([flags["bos_token_id"]] if flags["add_bos_token"] else []) + llama + \
                   ([flags["eos_token_id"]] if flags["add_eos_token"] else [])
        if with_special != expected:
            bad += 1
            if bad <= 3:
                fail(f"{label}: llama.cpp with special tokens gives {with_special[:6]}..., expected {expected[:6]}...")
    vocab.close()
    if bad:
        fail(f"{label}: {bad} texts where the references disagree beyond the known differences")
    parts = []
    for kind in ("plain", "leading space", "added token"):
        total = counts[kind, "spm", True] + counts[kind, "spm", False]
        if total:
            parts.append(f"{kind}: spm {counts[kind, 'spm', True]}/{total}, llama.cpp {counts[kind, 'llama.cpp', True]}/{total}")
    print(f"{label}: agreement with transformers' ids by kind of text -- " + "; ".join(parts))
    return counts


def quiet_llama_cpp(llama_cpp):
    """llama.cpp logs a warning for each text that starts with <s> when it adds BOS; the checks say what matters."""
    global _log_callback
    _log_callback = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ztune, tool = sys.argv[1], sys.argv[2]
    fixtures = Path(sys.argv[3]) if len(sys.argv) > 3 else HERE.parent / "fixtures" / "out"
    work = Path(sys.argv[4]) if len(sys.argv) > 4 else Path(tempfile.mkdtemp(prefix="ztune-gguf-spm-"))
    sample_dir = Path(sys.argv[5]) if len(sys.argv) > 5 else HERE.parent.parent / "data" / "sample"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        import llama_cpp
    except ImportError as error:
        sys.exit(f"llama_cpp does not import ({error}): pip install -r requirements.txt")
    quiet_llama_cpp(llama_cpp)
    from transformers import AutoTokenizer

    modern, old, vocab_size = make_sources(work, fixtures, sample_dir)
    tensors = model_tensors(fixtures, vocab_size)
    corpus = build_corpus(5000, ADDED, sample_dir)
    # (label, source folder, vocabulary, write merges, references must agree on plain text)
    runs = [
        ("spm", modern, vocab_sentencepiece(modern, vocab_size), False, True),
        ("spm-old", old, vocab_sentencepiece(old, vocab_size), False, True),
        ("spm-merges", modern, vocab_sentencepiece(modern, vocab_size), True, True),
        ("llama-hf", modern, vocab_llama_hf(modern), False, False),
    ]
    for label, source, vocab, load_merges, require in runs:
        path = work / label / "gguf" / "model.gguf"  # alone in its folder: transformers would prefer a tokenizer.model
        write_gguf(path, source, tensors, vocab, load_merges=load_merges)
        flags = gguf_flags(path)
        if (flags["merges"] is not None) != load_merges:
            fail(f"{label}: the GGUF {'lacks' if load_merges else 'has'} tokenizer.ggml.merges; the fixture is wrong")
        reference = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        counts = compare_references(label, llama_cpp, path, source, reference, corpus, flags, require)
        plain = counts["plain", "spm", True] + counts["plain", "spm", False]
        agree = f"spm {counts['plain', 'spm', True]}/{plain}, llama.cpp {counts['plain', 'llama.cpp', True]}/{plain}"
        out = work / label / "out"
        result = gi.run_import(ztune, path, out)
        if result.returncode != 0:
            fail(f"{label}: ztune export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
            summary.append((label, "-", "-", "-", "-", "-", agree))
            continue
        exact, diff = check_weights(label, path, out)
        num_merges = check_tokenizer_json(label, out, reference, flags)
        tool_parity, folder_parity = check_ids(label, tool, out, reference, corpus, work / label / "parity", flags)
        summary.append((label, f"{exact} exact", f"{diff:.1e}", str(num_merges), tool_parity, folder_parity, agree))

    # Broken files: an error (exit 2) naming the file and what is wrong.
    broken = [
        ("no scores nor merges", dict(scores=False), "tokenizer.ggml.scores"),
        ("SentencePiece in qwen2", dict(arch="qwen2"), "qwen2"),
    ]
    for label, options, expect in broken:
        path = work / "broken" / f"{label.replace(' ', '-')}.gguf"
        write_gguf(path, modern, tensors, vocab_sentencepiece(modern, vocab_size), **options)
        result = gi.run_import(ztune, path, work / "broken" / "out")
        output = result.stdout + result.stderr
        if result.returncode != 2 or str(path) not in output or expect not in output or "check failed" in output:
            fail(f"broken file '{label}': exit {result.returncode}, expected 2 naming {path} and {expect!r}; "
                 f"output: {output.strip()[-400:]}")
        summary.append((f"broken: {label}", "-", "-", "-", f"exit {result.returncode}", "-", "-"))

    header = ("file", "tensors", "|dlogits|", "merges", "ztune ids", "folder in HF", "refs agree (plain text)")
    rows = [header] + [tuple(str(c) for c in row) for row in summary]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    all_failures = failures + gi.failures
    if all_failures:
        print(f"FAIL: {len(all_failures)} problems")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
