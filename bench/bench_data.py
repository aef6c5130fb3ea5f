#!/usr/bin/env python3
"""Data-pipeline benchmark: ztune against the Python reference, side by side in one run.

usage: bench/bench_data.py [--build build] [--fixtures tests/fixtures/out] [--megabytes 8]

1. Tokenizer throughput, one thread each, same text, cold word cache each repetition (best of 3):
   ztune (build/tests/ztune_tokenize_corpus) vs HF `tokenizers` (Tokenizer.encode_batch with
   RAYON_NUM_THREADS=1, which has the least Python overhead per string), for the real Qwen2 vocabulary
   and the fixture tokenizer. The text: the bundled sample data's strings and the token-parity corpus.
2. Full pipeline samples/s on one rank (read + convert + template + tokenize + pack), ztune
   (ztune_encode_dataset, packing on, time inside the pipeline) vs ms-swift (load_dataset +
   Template.encode per row, no packing), on the bundled sharegpt data repeated to 20,000 rows.
Prints a Markdown table; docs/BENCHMARKS.md records the numbers with this command.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from token_parity import build_corpus, write_records  # noqa: E402


def corpus_bytes(megabytes, added_tokens):
    base = build_corpus(6000, added_tokens, ROOT / "data" / "sample")
    records = []
    total = 0
    rng = random.Random(3)
    while total < megabytes * 1_000_000:
        record = rng.choice(base)
        records.append(record)
        total += len(record)
    return records


def bench_tokenizer(tool, tokenizer_json, records, work):
    from tokenizers import Tokenizer

    corpus = work / "bench-corpus.bin"
    write_records(corpus, records)
    total_mb = sum(len(r) for r in records) / 1e6
    texts = [r.decode("utf-8", errors="replace") for r in records]
    best_ztune = 0.0
    for _ in range(3):
        out = subprocess.run([tool, str(tokenizer_json), str(corpus), str(work / "ids.bin")], check=True,
                             capture_output=True, text=True).stdout
        best_ztune = max(best_ztune, float(out.split("MB/s")[1].split()[0]))
    best_hf = 0.0
    for _ in range(3):
        hf = Tokenizer.from_file(str(tokenizer_json))
        start = time.perf_counter()
        hf.encode_batch(texts, add_special_tokens=False)
        best_hf = max(best_hf, total_mb / (time.perf_counter() - start))
    return total_mb, best_ztune, best_hf


def bench_pipeline(tool, model_dir, work, rows):
    source = (ROOT / "data" / "sample" / "sharegpt_seed.jsonl").read_text(encoding="utf-8").splitlines()
    data = work / "pipeline.jsonl"
    data.write_text("\n".join((source * (rows // len(source) + 1))[:rows]) + "\n", encoding="utf-8")
    # ztune: time inside the pipeline (reading, converting, encoding, packing), best of 3; the tool's own
    # start-up and its JSON output are not counted, as ms-swift's below counts neither.
    ztune_rate = 0.0
    for _ in range(3):
        subprocess.run([tool, str(model_dir), "qwen2_5", "default", "2048", "2048", str(work / "packed.jsonl"),
                        str(data)], check=True, capture_output=True)
        summary = json.loads((work / "packed.jsonl").read_text().splitlines()[-1])
        ztune_rate = max(ztune_rate, rows / summary["pipeline_seconds"])

    import logging
    logging.disable(logging.WARNING)
    from swift import get_processor, get_template
    from swift.dataset import load_dataset

    processor = get_processor(str(model_dir), model_type="qwen2")
    template = get_template(processor, template_type="qwen2_5", max_length=2048)
    template.set_mode("train")
    start = time.perf_counter()
    train, _ = load_dataset([str(data)], split_dataset_ratio=0, num_proc=1, load_from_cache_file=False)
    for row in train:
        template.encode({"messages": row["messages"]})
    swift_rate = rows / (time.perf_counter() - start)
    return ztune_rate, swift_rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--fixtures", default=str(ROOT / "tests" / "fixtures" / "out"))
    parser.add_argument("--megabytes", type=float, default=8)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--tokenizers-only", action="store_true", help="skip the ms-swift pipeline comparison")
    args = parser.parse_args()
    build, fixtures = Path(args.build), Path(args.fixtures)
    tool = build / "tests" / "ztune_tokenize_corpus"
    print("| tokenizer | text | ztune MB/s | HF tokenizers MB/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("tokenizer-qwen-real", "tokenizer-qwen"):
            tokenizer_json = fixtures / name / "tokenizer.json"
            added = [t["content"] for t in json.loads(tokenizer_json.read_text())["added_tokens"]]
            records = corpus_bytes(args.megabytes, added)
            total, ours, theirs = bench_tokenizer(tool, tokenizer_json, records, work)
            print(f"| {name} | {total:.1f} MB, {len(records)} strings | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x |")
        # The other shapes, built as the tokenizer shapes test builds them (SentencePiece-style with byte
        # fallback as Llama-2, and SmolLM2's digits + byte level).
        sys.path.insert(0, str(ROOT / "tests" / "python"))
        from check_tokenizer_shapes import build as build_shape, training_text
        text = training_text()
        for name in ("spm-legacy", "spm-metaspace-first", "bytelevel-digits"):
            tokenizer_json = build_shape(name, work / name, text)
            added = [t["content"] for t in json.loads(tokenizer_json.read_text())["added_tokens"]]
            records = corpus_bytes(args.megabytes, added)
            total, ours, theirs = bench_tokenizer(tool, tokenizer_json, records, work)
            print(f"| {name} | {total:.1f} MB, {len(records)} strings | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x |")
        if args.tokenizers_only:
            return
        ztune_rate, swift_rate = bench_pipeline(build / "tests" / "ztune_encode_dataset", fixtures / "qwen2", work,
                                                args.rows)
        print()
        print("| pipeline (one rank, packing on) | ztune samples/s | ms-swift samples/s | ratio |")
        print("| --- | --- | --- | --- |")
        print(f"| {args.rows} sharegpt rows, qwen2_5 template | {ztune_rate:.0f} | {swift_rate:.0f} | "
              f"{ztune_rate / swift_rate:.1f}x |")


if __name__ == "__main__":
    main()
