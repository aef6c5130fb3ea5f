"""Rows/s of chat-template rendering + tokenizing (+ labels): ztune's Jinja path (ztune_render_chat, REPEAT mode)
against transformers' apply_chat_template(tokenize=True) on the same rows and templates, side by side in one run.

usage: bench_jinja.py RENDER_CHAT TOKENIZER_DIR SAMPLE_DIR TEMPLATE_FILE... [--repeat N]
Prints one line per template: rows/s of each and the ratio.
"""
import json
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
    repeat = 20
    if "--repeat" in args:
        repeat = int(args[args.index("--repeat") + 1])
        del args[args.index("--repeat"):args.index("--repeat") + 2]
    binary, tokenizer_dir, sample_dir, templates = args[0], args[1], args[2], args[3:]
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    data = rows(sample_dir)
    for template_file in templates:
        template = Path(template_file).read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as work:
            requests = Path(work) / "requests.jsonl"
            requests.write_text("".join(json.dumps({"template": template_file, "row": r}) + "\n" for r in data))
            done = subprocess.run([binary, tokenizer_dir, str(requests), str(Path(work) / "out.jsonl"), str(repeat)],
                                  capture_output=True, text=True, check=True)
            ours = json.loads(done.stdout.strip().splitlines()[-1])
        start = time.perf_counter()
        count = 0
        for _ in range(max(1, repeat // 4)):
            for r in data:
                tok.apply_chat_template(r["messages"], chat_template=template, tokenize=True, return_dict=True)
                count += 1
        theirs = count / (time.perf_counter() - start)
        mine = ours["rows"] / ours["seconds"]
        print(f"{Path(template_file).name}: ztune {mine:,.0f} rows/s (render, tokenize, labels) | transformers "
              f"{theirs:,.0f} rows/s (render, tokenize) | {mine / theirs:.1f}x", flush=True)


if __name__ == "__main__":
    main()
