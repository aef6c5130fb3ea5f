"""Rows/s of chat-template rendering + tokenizing (+ labels): ztune's Jinja path (ztune_render_chat, REPEAT mode)
against transformers' apply_chat_template(tokenize=True) on the same rows and templates, side by side in one run.

usage: bench_jinja.py RENDER_CHAT TOKENIZER_DIR SAMPLE_DIR TEMPLATE_FILE... [--repeat N] [--rounds R]
Prints one line per template: the median rows/s of each over R alternating rounds (ztune, transformers, ztune,
...) and the median of the round-by-round ratios, with their range (the machine is noisy).
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformers import AutoTokenizer


def rows(sample_dir):
    out = []
    for line in open(Path(sample_dir) / "messages.jsonl", encoding="utf-8"):
        row = json.loads(line)
        if row.get("messages") and row["messages"][-1]["role"] == "assistant":
            out.append(row)
    return out


def main():
    args = sys.argv[1:]
    repeat, rounds = 20, 5
    for flag in ["--repeat", "--rounds"]:
        if flag in args:
            value = int(args[args.index(flag) + 1])
            del args[args.index(flag):args.index(flag) + 2]
            repeat, rounds = (value, rounds) if flag == "--repeat" else (repeat, value)
    binary, tokenizer_dir, sample_dir, templates = args[0], args[1], args[2], args[3:]
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    data = rows(sample_dir)
    for template_file in templates:
        template = Path(template_file).read_text(encoding="utf-8")
        mine, theirs = [], []
        with tempfile.TemporaryDirectory() as work:
            requests = Path(work) / "requests.jsonl"
            requests.write_text("".join(json.dumps({"template": template_file, "row": r}) + "\n" for r in data))
            for _ in range(rounds):
                done = subprocess.run([binary, tokenizer_dir, str(requests), str(Path(work) / "out.jsonl"), str(repeat)],
                                      capture_output=True, text=True, check=True)
                ours = json.loads(done.stdout.strip().splitlines()[-1])
                mine.append(ours["rows"] / ours["seconds"])
                start = time.perf_counter()
                count = 0
                for _ in range(max(1, repeat // 4)):
                    for r in data:
                        tok.apply_chat_template(r["messages"], chat_template=template, tokenize=True, return_dict=True)
                        count += 1
                theirs.append(count / (time.perf_counter() - start))
        ratios = [a / b for a, b in zip(mine, theirs)]
        print(f"{Path(template_file).name}: ztune {statistics.median(mine):,.0f} rows/s (render, tokenize, labels) | "
              f"transformers {statistics.median(theirs):,.0f} rows/s (render, tokenize) | "
              f"{statistics.median(ratios):.1f}x (rounds {min(ratios):.1f}-{max(ratios):.1f}x)", flush=True)

if __name__ == "__main__":
    main()
