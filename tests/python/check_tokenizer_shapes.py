#!/usr/bin/env python3
"""Token parity for every tokenizer.json shape ztune reads, built with the `tokenizers` library itself.

usage: check_tokenizer_shapes.py TOKENIZE_TOOL WORK_DIR [--sample-dir DIR] [--only NAME ...]

Each shape is a small BPE trained here (fixed corpus, deterministic) with one combination of the options
real model folders carry: SentencePiece-style BPE with byte fallback (Llama-2's legacy normalizer, and the
Metaspace pre-tokenizer of Mistral and newer conversions), byte-level BPE with a Digits pre-tokenizer
(SmolLM2), Split behaviours, Punctuation, Whitespace, NFKC/Lowercase/Strip/Replace normalizers, every
decoder, added tokens matched before and after normalisation, and a vocabulary with an unk token and no byte
fallback. (The Punctuation pre-tokenizer is refused: its character table is an older Unicode's than any
regex engine's, so ids would differ on recent characters.) tests/python/token_parity.py then requires ztune's ids and decodes to equal HF's on >= 5,000
strings per shape, 0 mismatches.

Model folders are checked against transformers too (AutoTokenizer, as ms-swift loads them): transformers 5
rebuilds the pipeline of LlamaTokenizer and GPT2Tokenizer folders whatever tokenizer.json says, and ztune
must do the same when it is given the folder.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from token_parity import build_corpus  # noqa: E402

SPACE = "\u2581"


def training_text():
    # English, code and some Chinese: everything else in the parity corpus (emoji, scripts, rare characters)
    # has no token and exercises byte fallback or unk.
    corpus = build_corpus(1500, [], None)
    return [raw.decode("utf-8", errors="ignore") for raw in corpus]


def spm_bpe(fallback=True, unk=True, vocab_size=1200):
    model = models.BPE(unk_token="<unk>" if unk else None, byte_fallback=fallback, fuse_unk=unk)
    tokenizer = Tokenizer(model)
    return tokenizer, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                          limit_alphabet=120, initial_alphabet=[SPACE], show_progress=False)


def add_byte_tokens(path):
    """Llama-2 keeps <0x00>..<0xFF> as ordinary vocabulary entries (not added tokens)."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = next_id + b
    # Added tokens outside the vocabulary come after it, as tokenizers numbers them when it loads the file.
    next_id += 256
    for entry in spec.get("added_tokens", []):
        if entry["content"] not in vocab:
            entry["id"] = next_id
            next_id += 1
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def llama_post_processor():
    return processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])


def spm_decoder():
    return decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse(),
                              decoders.Strip(" ", 1, 0)])


def shape_spm_legacy(tokenizer, trainer):
    """Llama-2's tokenizer.json: Prepend + Replace normalizer, no pre-tokenizer."""
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    tokenizer.decoder = spm_decoder()
    tokenizer.post_processor = llama_post_processor()


def shape_spm_metaspace_first(tokenizer, trainer):
    """Mistral and newer conversions: Metaspace(prepend_scheme="first", split=False)."""
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="first")
    tokenizer.post_processor = llama_post_processor()


def shape_spm_metaspace_split(tokenizer, trainer):
    """Metaspace splitting words, individual digits, NFKC, added tokens matched after normalisation."""
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Digits(individual_digits=True)])
    tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Metaspace(replacement=SPACE, prepend_scheme="always")])


def shape_bytelevel_digits(tokenizer, trainer):
    """SmolLM2: individual digits, then GPT-2's byte-level split."""
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)


def shape_bytelevel_behaviours(tokenizer, trainer):
    """Split behaviours other than Isolated, a prefix space; NFKC + Lowercase + Replace + Strip."""
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                                 normalizers.Replace(Regex(r"\d{4,}"), "#"), normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_previous"),
        pre_tokenizers.Split(" ", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[!-/:-@\[-`{-~]"), behavior="contiguous"),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()


def shape_whitespace_unk(tokenizer, trainer):
    """Character BPE with an unk token and no byte fallback; Whitespace pre-tokenizer; no decoder (HF joins
    tokens with spaces)."""
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                       pre_tokenizers.Split(Regex("[-_]+"), behavior="removed")])


def shape_whitespace_split(tokenizer, trainer):
    """WhitespaceSplit, CharDelimiterSplit and an inverted Split; decoders Replace and Strip at both ends."""
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.CharDelimiterSplit("_"),
                                                       pre_tokenizers.Split(Regex(r"\p{Han}+"), behavior="isolated",
                                                                            invert=True)])
    tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Replace("a", "A"),
                                           decoders.Strip("A", 1, 0)])


# name -> (builder, byte-level, byte fallback, unk token)
SHAPES = {
    "spm-legacy": (shape_spm_legacy, False, True, True),
    "spm-metaspace-first": (shape_spm_metaspace_first, False, True, True),
    "spm-metaspace-split": (shape_spm_metaspace_split, False, True, True),
    "bytelevel-digits": (shape_bytelevel_digits, True, False, False),
    "bytelevel-behaviours": (shape_bytelevel_behaviours, True, False, False),
    "whitespace-unk": (shape_whitespace_unk, False, False, True),
    "whitespace-split": (shape_whitespace_split, False, True, True),
}


def build(name, folder, text):
    builder, byte_level, fallback, unk = SHAPES[name]
    if byte_level:
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tokenizer, trainer = spm_bpe(fallback=fallback, unk=unk)
    builder(tokenizer, trainer)
    tokenizer.train_from_iterator(text, trainer)
    # Added tokens of both kinds: special (matched in the raw text) and plain ones matched after normalisation.
    tokenizer.add_special_tokens(["[INST]", "[/INST]"])
    tokenizer.add_tokens([AddedToken("hello world", normalized=True), AddedToken("<think>", normalized=False)])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokenizer.json"
    tokenizer.save(str(path))
    if fallback:
        add_byte_tokens(path)
    # The shape must exercise what it is about: characters without a token of their own.
    tokens = Tokenizer.from_file(str(path)).encode("\U0001F680\u0ead", add_special_tokens=False).tokens
    wanted = "<0x" if fallback else "<unk>" if unk else None
    if wanted and not any(token.startswith(wanted) for token in tokens):
        sys.exit(f"{name}: rare characters give {tokens}, no {wanted} token: the shape would test nothing")
    return path


def write_folder(folder, tokenizer_json, tokenizer_config, model_type):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(tokenizer_json.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["LlamaForCausalLM"]}))


def parity(tool, target, work, sample_dir, transformers=False):
    command = [sys.executable, str(HERE / "token_parity.py"), tool, str(target), str(work), "--lossy"]
    if sample_dir:
        command += ["--sample-dir", sample_dir]
    if transformers:
        command.append("--transformers")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    lines = done.stdout.strip().splitlines()
    return done.returncode == 0, (lines[-1] if lines else "") if done.returncode == 0 else done.stdout[-2500:] + done.stderr[-2500:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("work")
    parser.add_argument("--sample-dir")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    work = Path(args.work)
    text = training_text()
    failures = []
    built = {}
    for name in SHAPES:
        if args.only and name not in args.only:
            continue
        built[name] = build(name, work / name, text)
        ok, detail = parity(args.tool, built[name], work / f"parity-{name}", args.sample_dir)
        print(f"{name}: {detail if ok else 'FAILED'}")
        if not ok:
            failures.append(f"{name}:\n{detail}")

    # Folders as transformers loads them.
    folders = []
    if "spm-legacy" in built:
        base = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True}
        folders += [
            ("llama2-folder", built["spm-legacy"], dict(base, tokenizer_class="LlamaTokenizer", legacy=False), "llama"),
            ("llama2-folder-legacy", built["spm-legacy"], dict(base, tokenizer_class="LlamaTokenizerFast", legacy=True),
             "llama"),
            ("llama2-folder-no-prefix-space", built["spm-legacy"],
             dict(base, tokenizer_class="LlamaTokenizer", add_prefix_space=False), "llama"),
            ("mistral-folder", built["spm-legacy"], dict(base, tokenizer_class="LlamaTokenizer"), "mistral"),
        ]
    if "bytelevel-digits" in built:
        folders.append(("smollm2-folder", built["bytelevel-digits"],
                        {"tokenizer_class": "GPT2Tokenizer", "eos_token": "<|im_end|>", "bos_token": "<|im_start|>"},
                        "llama"))
    for name, tokenizer_json, config, model_type in folders:
        folder = work / name
        write_folder(folder, tokenizer_json, config, model_type)
        ok, detail = parity(args.tool, folder, work / f"parity-{name}", args.sample_dir, transformers=True)
        print(f"{name} (transformers): {detail if ok else 'FAILED'}")
        if not ok:
            failures.append(f"{name}:\n{detail}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
