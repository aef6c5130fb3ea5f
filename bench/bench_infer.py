#!/usr/bin/env python3
"""Batch inference benchmark: `ztune infer` against transformers + peft `generate`, side by side.

usage: bench/bench_infer.py [--build build] [--rows 16] [--batch 8] [--new 64]

Model: the random Qwen2-shaped model of bench_model.py (hidden 512, 8 layers, vocab 32,000, fp32) with the
fixture tokenizer, and a random LoRA adapter (r 8, all linear layers) that both sides apply unmerged.
Prompts: the first user turns of --rows conversations of data/sample/sharegpt_seed.jsonl, encoded by each
side's own template code (ms-swift's for the reference). Both decode greedily up to --new tokens per prompt,
stopping at <|im_end|>, --batch prompts at a time, left-padded, with a KV cache, two threads. The replies
must be equal (greedy, fp32), so both generated the same tokens; the count comes from the reference side.
Reported: generated tokens per second, model loading excluded on both sides (ztune's progress line gives
rows/s from the first batch on).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_model import write_model  # noqa: E402

REFERENCE = textwrap.dedent("""
    import json, logging, sys, time, torch
    logging.disable(logging.WARNING)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from swift import get_processor, get_template
    model_dir, adapter, rows_path, batch, new = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    template = get_template(get_processor(model_dir, model_type='qwen2'), template_type='qwen2_5')
    template.set_mode('pt')
    prompts = [template.encode({'messages': json.loads(l)['messages']})['input_ids'] for l in open(rows_path)]
    tokenizer = template.tokenizer
    stop = tokenizer.convert_tokens_to_ids('<|im_end|>')
    replies = []
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter).eval()
    start, generated = time.perf_counter(), 0
    for b in range(0, len(prompts), batch):
        group = prompts[b:b + batch]
        longest = max(len(p) for p in group)
        ids = torch.tensor([[0] * (longest - len(p)) + p for p in group])
        mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in group])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                                 pad_token_id=0, eos_token_id=stop, temperature=None, top_p=None, top_k=None)
        for row in out[:, longest:].tolist():
            cut = next((i for i, t in enumerate(row) if t == stop), len(row))
            generated += min(len(row), cut + 1)
            replies.append(tokenizer.decode(row[:cut], skip_special_tokens=True))
    seconds = time.perf_counter() - start
    print(json.dumps({'tokens_per_second': generated / seconds, 'tokens': generated, 'replies': replies}))
""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new", type=int, default=64)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="2", TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        write_model(model)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(ROOT / "tests" / "fixtures" / "out" / "qwen2" / name, model / name)
        (model / "generation_config.json").write_text(json.dumps({"do_sample": False}))  # stop: <|im_end|> only
        adapter = tmp / "adapter"
        subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import torch
            from peft import LoraConfig, get_peft_model
            from transformers import AutoModelForCausalLM
            torch.manual_seed(1)
            m = AutoModelForCausalLM.from_pretrained('{model}')
            get_peft_model(m, LoraConfig(r=8, lora_alpha=32, init_lora_weights=False, task_type='CAUSAL_LM',
                           target_modules='all-linear')).save_pretrained('{adapter}')
        """)], check=True, env=env, capture_output=True)
        rows = tmp / "rows.jsonl"
        with rows.open("w") as out:
            for line in (ROOT / "data" / "sample" / "sharegpt_seed.jsonl").read_text().splitlines()[:args.rows]:
                turn = json.loads(line)["conversation"][0]
                out.write(json.dumps({"messages": [{"role": "user", "content": turn["human"]}]}) + "\n")
        done = subprocess.run([str(Path(args.build) / "ztune"), "infer", "--model", str(model), "--adapters", str(adapter),
                               "--val_dataset", str(rows), "--temperature", "0", "--max_new_tokens", str(args.new),
                               "--max_batch_size", str(args.batch), "--result_path", str(tmp / "out.jsonl")],
                              check=True, capture_output=True, text=True, env=env)
        rate = float(re.findall(r"([0-9.]+) rows/s", done.stderr)[-1])
        replies = [json.loads(l)["response"] for l in (tmp / "out.jsonl").read_text().splitlines()]
        reference = json.loads(subprocess.run([sys.executable, "-c", REFERENCE, str(model), str(adapter), str(rows),
                                               str(args.batch), str(args.new)], check=True, capture_output=True,
                                              text=True, env=env).stdout.splitlines()[-1])
        equal = sum(a == b for a, b in zip(replies, reference["replies"]))
        if equal != len(replies):
            sys.exit(f"the replies differ ({equal} of {len(replies)} equal): the token counts would not compare")
        ours = reference["tokens"] / (args.rows / rate)
        theirs = reference["tokens_per_second"]
    print("| side | generated tokens/s |\n| --- | --- |")
    print(f"| ztune infer | {ours:.0f} |\n| transformers + peft generate | {theirs:.0f} |")
    print(f"\nratio {ours / theirs:.2f}x ({args.rows} prompts, batches of {args.batch}, at most {args.new} new tokens "
          f"each, {reference['tokens']} generated; all {len(replies)} replies equal)")


if __name__ == "__main__":
    main()
