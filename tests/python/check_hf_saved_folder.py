#!/usr/bin/env python3
"""Model folders as transformers 5 and the hub ship them, not as our fixture generator writes them.

usage: check_hf_saved_folder.py ZTUNE TOKENIZE_TOOL MODEL_DIR DATASET WORK_DIR

1. The fixture re-saved through `AutoTokenizer.from_pretrained(...).save_pretrained(...)` (transformers 5):
   tokenizer.json with "" subword prefix/suffix and the template in chat_template.jinja, not in
   tokenizer_config.json (asserted, so that this test keeps testing that shape). ztune's tokens equal HF
   tokenizers' on the parity corpus (tests/python/token_parity.py), and `ztune sft` on the re-saved folder
   logs the same losses, step by step, as on the original folder, naming the template it found.
2. A byte-level vocabulary missing 21 byte tokens (as SmolLM2's does), built from the fixture's with the
   `tokenizers` library (the tokens and merges holding those bytes dropped): ids equal HF's, which drops
   such bytes.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from sft_run import run_sft_command
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent


def byte_level_alphabet():
    """GPT-2's map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


def parity(tool, tokenizer_json, work, failures, name, lossy=False):
    done = subprocess.run([sys.executable, str(HERE / "token_parity.py"), tool, str(tokenizer_json), str(work)]
                          + (["--lossy"] if lossy else []), capture_output=True, text=True, timeout=900)
    print(f"{name}: {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}")
    if done.returncode != 0:
        failures.append(f"{name}: token parity failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    ztune, tool, model, dataset, work = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    failures = []

    # 1. transformers 5's save_pretrained.
    from transformers import AutoTokenizer
    resaved = work / "resaved"
    shutil.copytree(model, resaved, ignore=shutil.ignore_patterns("tokenizer*", "chat_template*", "special_tokens*"))
    AutoTokenizer.from_pretrained(str(model)).save_pretrained(str(resaved))
    bpe = json.loads((resaved / "tokenizer.json").read_text())["model"]
    config = json.loads((resaved / "tokenizer_config.json").read_text())
    if bpe.get("continuing_subword_prefix") != "" or "chat_template" in config or not (resaved / "chat_template.jinja").exists():
        failures.append("transformers no longer saves the shape this test is about ("
                        f"prefix {bpe.get('continuing_subword_prefix')!r}, chat_template in config: {'chat_template' in config})")
    parity(tool, resaved / "tokenizer.json", work / "parity-resaved", failures, "re-saved tokenizer")
    arguments = ["--dataset", dataset, "--max_steps", "4", "--packing", "true", "--max_length", "256",
                 "--logging_steps", "1", "--save_steps", "4", "--lora_dropout", "0"]
    losses = {}
    for name, folder in (("original", model), ("re-saved", resaved)):
        run, stdout, stderr = run_sft_command(ztune, work / f"sft-{name}", 1, ["--model", str(folder)] + arguments)
        losses[name] = [json.loads(line)["loss"] for line in (run / "logging.jsonl").read_text().splitlines()
                        if '"loss"' in line]
        template = [line for line in (stdout + stderr).splitlines() if "chat template" in line]
        print(f"{name}: {template[0].split('info: ')[-1] if template else 'no template line'}")
        if not template or "qwen" not in template[0]:
            failures.append(f"{name}: the log does not name the qwen template it found: {template}")
    if losses["original"] != losses["re-saved"] or len(losses["original"]) != 4:
        failures.append(f"losses differ: {losses}")

    # 2. A partial byte vocabulary: bytes 0x80-0x94 have no token.
    alphabet = byte_level_alphabet()
    dropped = {alphabet[b] for b in range(0x80, 0x95)}
    spec = json.loads((model / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    # Ids stay contiguous, as in a real vocabulary: the kept tokens in order, then the added tokens.
    kept = sorted((i, token) for token, i in vocab.items() if not (set(token) & dropped))
    spec["model"]["vocab"] = {token: new for new, (_, token) in enumerate(kept)}
    for k, entry in enumerate(spec.get("added_tokens", [])):
        entry["id"] = len(kept) + k
    merges = spec["model"]["merges"]
    pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
    spec["model"]["merges"] = [m for m, (a, b) in zip(merges, pairs)
                               if not ((set(a) | set(b)) & dropped)]
    partial = work / "partial-bytes" / "tokenizer.json"
    partial.parent.mkdir()
    partial.write_text(json.dumps(spec, ensure_ascii=False))
    hf = Tokenizer.from_file(str(partial))
    if hf.encode("\u00e9\u4e2d", add_special_tokens=False).ids == Tokenizer.from_file(str(model / "tokenizer.json")).encode(
            "\u00e9\u4e2d", add_special_tokens=False).ids:
        failures.append("the partial vocabulary did not change HF's ids; the test would be vacuous")
    parity(tool, partial, work / "parity-partial", failures, f"vocabulary without {len(dropped)} byte tokens", lossy=True)

    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
