#!/usr/bin/env python3
"""Token parity: ztune's tokenizer against HF `tokenizers` on a varied corpus.

usage: token_parity.py TOOL TOKENIZER_JSON WORK_DIR [--count N] [--sample-dir DIR] [--lossy] [--transformers]

With --transformers, TOKENIZER_JSON is a model folder and the reference is what transformers'
AutoTokenizer makes of it (its backend tokenizer: transformers 5 rebuilds the pipelines of some classes,
LlamaTokenizer and GPT2Tokenizer among them, whatever tokenizer.json says); ztune is given the folder.

Builds a deterministic corpus of at least N strings (Chinese, English, code, emoji, whitespace runs,
numbers, added/special tokens inside text, combining marks that NFC composes, invalid UTF-8 byte strings),
encodes it with ztune (TOOL = ztune_tokenize_corpus) and with HF, and requires:
  - identical ids for every string (invalid UTF-8 is given to HF decoded with errors="replace", as a
    Python caller would have it);
  - ztune's decode equal to HF's decode of the same ids;
  - decode(encode(x)) == x for every valid string that normalisation leaves unchanged, except with
    --lossy (a vocabulary without some bytes drops them, as HF does: the first two checks still hold).
"""

import argparse
import json
import random
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

from tokenizers import Tokenizer

ENGLISH = ("the quick brown fox jumps over the lazy dog while I'm reading what you've written and "
           "they'll say it's fine don't worry we'd better go HELLO World CamelCase snake_case").split()
CHINESE = list("我们你他她它的是在有个人这中大为上来说国年着就那和要出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感")
CODE = [
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if (a && b) || !c:\n\tpass", "SELECT * FROM t WHERE id = 42;", "x = [1, 2, 3]  # comment",
    "std::vector<int> v{1,2,3};", "<div class=\"a\">hi</div>", "fn main() { println!(\"hi\"); }",
    "    indented\n        more\n", "a\r\nb\r\n", "\t\t\ttabs", "lambda x: x+1", "{'k': None}",
]
EMOJI = ["😀", "🚀", "✨", "👍🏽", "🇨🇳", "👨‍👩‍👧", "❤️", "🤖", "🎉", "💡"]
PUNCT = list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`…—–“”‘’·、，。！？；：（）《》【】")
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "\u3000", "\u00a0", "    \n   "]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ll"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "A\u030a", "\u1100\u1161", "o\u0302\u0301", "\u0301", "ﬁ", "Å", "Ω"]
INVALID = [b"\xff", b"\xc3", b"\xe4\xbd", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xc0\xaf", b"\x80\x80", b"\xf5\x80",
           b"\xe0\x80\x80", b"\xf4\x90\x80\x80"]


def random_word(rng):
    kind = rng.random()
    if kind < 0.35:
        word = rng.choice(ENGLISH)
        return word.upper() if rng.random() < 0.1 else word
    if kind < 0.6:
        return "".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 6)))
    if kind < 0.7:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if kind < 0.78:
        return rng.choice(PUNCT) * rng.randint(1, 3)
    if kind < 0.84:
        return rng.choice(EMOJI)
    if kind < 0.9:
        return rng.choice(ENGLISH) + rng.choice(CONTRACTIONS)
    if kind < 0.95:
        return rng.choice(COMBINING)
    return chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x3040, 0x30ff),
                           rng.randint(0xac00, 0xd7a3), rng.randint(0x1f300, 0x1faff), rng.randint(0x0400, 0x04ff),
                           rng.randint(0x0600, 0x06ff), rng.randint(0x0900, 0x097f)]))


def sample_lines(sample_dir):
    texts = []
    if sample_dir and Path(sample_dir).is_dir():
        for path in sorted(Path(sample_dir).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                texts.append(line)

                def collect(value):
                    if isinstance(value, str):
                        texts.append(value)
                    elif isinstance(value, list):
                        for item in value:
                            collect(item)
                    elif isinstance(value, dict):
                        for item in value.values():
                            collect(item)
                try:
                    collect(json.loads(line))
                except ValueError:
                    pass
    return texts


def build_corpus(count, added_tokens, sample_dir):
    rng = random.Random(20261128)
    corpus = [text.encode() for text in sample_lines(sample_dir)]
    corpus += [s.encode() for s in CODE + EMOJI + WHITESPACE + COMBINING + [""]]
    corpus += [t.encode() for t in added_tokens]
    while len(corpus) < count:
        parts = []
        for _ in range(rng.randint(1, 25)):
            roll = rng.random()
            if roll < 0.08 and added_tokens:
                parts.append(rng.choice(added_tokens))
            elif roll < 0.2:
                parts.append(rng.choice(WHITESPACE))
            elif roll < 0.25:
                parts.append(rng.choice(CODE))
            else:
                parts.append(random_word(rng))
            if rng.random() < 0.6:
                parts.append(" ")
        text = "".join(parts).encode()
        if rng.random() < 0.05:
            cut = rng.randint(0, len(text))
            text = text[:cut] + rng.choice(INVALID) + text[cut:]
        corpus.append(text)
    corpus += [bytes(INVALID[i % len(INVALID)]) + b"abc" for i in range(len(INVALID))]
    corpus.append(" " * 300 + "\n" * 50 + "x" * 2000)  # long runs
    corpus[-1] = corpus[-1].encode()
    return corpus


def write_records(path, records):
    with open(path, "wb") as handle:
        for record in records:
            handle.write(struct.pack("<I", len(record)))
            handle.write(record)


def read_output(path, count):
    data = Path(path).read_bytes()
    offset = 0
    ids, texts = [], []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, offset)
        offset += 4
        ids.append(list(struct.unpack_from(f"<{n}i", data, offset)))
        offset += 4 * n
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, offset)
        offset += 4
        texts.append(data[offset:offset + n].decode("utf-8"))
        offset += n
    return ids, texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("tokenizer")
    parser.add_argument("work")
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--sample-dir", default=None)
    parser.add_argument("--lossy", action="store_true")
    parser.add_argument("--transformers", action="store_true")
    args = parser.parse_args()

    if args.transformers:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(args.tokenizer).backend_tokenizer
        config = json.loads(hf.to_str())
    else:
        hf = Tokenizer.from_file(args.tokenizer)
        config = json.loads(Path(args.tokenizer).read_text(encoding="utf-8"))
    added = [t["content"] for t in config.get("added_tokens", [])]
    nfc = "NFC" in json.dumps(config.get("normalizer"))
    corpus = build_corpus(args.count, added, args.sample_dir)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    write_records(work / "corpus.bin", corpus)
    subprocess.run([args.tool, args.tokenizer, str(work / "corpus.bin"), str(work / "ids.bin")], check=True)
    ours, our_texts = read_output(work / "ids.bin", len(corpus))

    mismatches = []
    round_trip_checked = 0
    for i, raw in enumerate(corpus):
        text = raw.decode("utf-8", errors="replace")
        expected = hf.encode(text, add_special_tokens=False).ids
        if ours[i] != expected:
            mismatches.append(f"ids #{i} {text[:60]!r}: ztune {ours[i][:12]} hf {expected[:12]}")
            continue
        hf_text = hf.decode(expected, skip_special_tokens=False)
        if our_texts[i] != hf_text:
            mismatches.append(f"decode #{i} {text[:60]!r}: ztune {our_texts[i][:60]!r} hf {hf_text[:60]!r}")
        unchanged = not nfc or unicodedata.normalize("NFC", text) == text
        if not args.lossy and raw.decode("utf-8", errors="ignore").encode() == raw and unchanged:
            round_trip_checked += 1
            if our_texts[i] != text:
                mismatches.append(f"round trip #{i} {text[:60]!r} -> {our_texts[i][:60]!r}")
    for line in mismatches[:20]:
        print("MISMATCH", line)
    name = Path(args.tokenizer).name if args.transformers else Path(args.tokenizer).parent.name
    print(f"{name}: {len(corpus)} strings, {len(mismatches)} mismatches, "
          f"{round_trip_checked} round trips checked")
    sys.exit(1 if mismatches or len(corpus) < 5000 else 0)


if __name__ == "__main__":
    main()
