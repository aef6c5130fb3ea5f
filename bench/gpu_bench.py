#!/usr/bin/env python3
"""GPU benchmarks: `ztune sft` / `ztune infer` against transformers + peft, side by side in one run.

usage: bench/gpu_bench.py ZTUNE WORK [--shape 7b|tiny] [--device cuda|cpu] [--steps 6] [--tokens 8192]
                          [--budget SECONDS] [--fixtures DIR]

Model: random weights in the real dimensions of Qwen2.5-7B-Instruct (hidden 3584, 28 layers, 28 query / 4 kv
heads, intermediate 18944, vocab 152064), bf16, built on the CPU (never in fp32, never on the GPU) and saved
as transformers saves it, with the fixture tokenizer; --shape tiny is a 4-layer model for the dry run on a CPU.

The parts, in the order they run (most wanted first); each one starts only when the time it needs is still
left of --budget (the time the caller actually has), and records its rows as soon as it has them:
1. the matrix rate: a bf16 8192^3 matmul, 10 times (fp32 512^3 on a CPU);
2. ztune training, LoRA r 8 / alpha 32 / dropout 0.05 on all linear layers, gradient checkpointing, one row
   of --tokens tokens per step (unpacked: transformers cannot keep packed samples apart without flash-attn):
   steady tokens/s (steps 2..N, from logging.jsonl) and MFU. FLOPs per token = 6 x base parameters (forward,
   recompute, backward for the inputs: 2 each) + 8 x layers x T x (heads x head_dim) for the causal score
   and value products (T/2 keys on average; forward, recompute and two in backward);
3. ztune greedy decoding, batch 1, 256 new tokens (tokens/s from the difference between 256 and 1 new
   tokens, so loading and prefill cancel);
4. the reference, loaded once onto the device after every ztune run above has ended: transformers' greedy
   decoding at batch 1, the transformers + peft training loop (steps 2..N, synchronised), decoding at batch
   16; the ratios against ztune; then the reference is freed;
5. ztune's peak GPU memory at 2,048 tokens, batch 1 (torch's caching allocator: peak allocated, and peak
   reserved, which is what ms-swift prints; ms-swift publishes 22 GB for this setting), and ztune's own
   estimate against it;
6. a mixture of experts: a LoRA step on random weights in Qwen3-30B-A3B's dimensions with 4 layers (the experts
   adapted, dropout 0, at most 4,096 tokens), ztune against transformers + peft with grouped_mm experts;
7. ztune decoding at batch 16, ZeRO-3 against no ZeRO on one GPU, dropout 0.05 against 0.
Every part catches its own failure (a row saying so; the whole error in errors.log) and the others go on.
WORK/results.jsonl gets one line per row and WORK/table.md the table so far, rewritten after every row, so a
run cut off keeps what it measured. Exits 0 (a benchmark reports; the targets are read from the table).
"""
import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064),
    "tiny": dict(hidden_size=256, intermediate_size=704, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=2048),
}
# The mixture-of-experts row: Qwen3-30B-A3B's dimensions (hidden 2048, 32 / 4 heads of 128, 128 experts of 768,
# top 8, vocab 151936) in 4 layers; "tiny" for the dry run.
MOE_SHAPES = {
    "7b": dict(hidden_size=2048, intermediate_size=6144, moe_intermediate_size=768, num_hidden_layers=4,
               num_attention_heads=32, num_key_value_heads=4, head_dim=128, num_experts=128, num_experts_per_tok=8,
               vocab_size=151936),
    "tiny": dict(hidden_size=256, intermediate_size=704, moe_intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=64, num_experts=16, num_experts_per_tok=4,
                 vocab_size=2048),
}
MOE_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
HEADER = "| benchmark | ztune | transformers + peft | target | note |\n| --- | --- | --- | --- | --- |\n"


class Results:
    """Rows as they come: printed at once, appended to results.jsonl, table.md rewritten."""

    def __init__(self, work):
        self.work, self.rows = work, []

    def add(self, name, ztune="", reference="", target="", note="", **values):
        row = dict(name=name, ztune=ztune, reference=reference, target=target, note=note, **values)
        self.rows.append(row)
        with open(self.work / "results.jsonl", "a") as out:
            out.write(json.dumps(row) + "\n")
        line = f"| {name} | {ztune} | {reference} | {target} | {note} |"
        (self.work / "table.md").write_text(HEADER + "\n".join(
            f"| {r['name']} | {r['ztune']} | {r['reference']} | {r['target']} | {r['note']} |" for r in self.rows) + "\n")
        print(line, flush=True)


class OutOfTime(BaseException):
    """Raised by the alarm at --budget: no part may outlive it, in-process ones included."""


class Clock:
    def __init__(self, budget):
        self.start, self.budget = time.monotonic(), budget

    def left(self):
        return self.budget - (time.monotonic() - self.start)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def free_device(device):
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def machine(device):
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info(0)
        return (f"{p.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} free), {p.multi_processor_count} SMs, "
                f"torch {torch.__version__} CUDA {torch.version.cuda}")
    return f"CPU, {os.cpu_count()} cores, torch {torch.__version__}"


def matrix_rate(device):
    n = 8192 if device == "cuda" else 512
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    seconds = time.perf_counter() - start
    del a, b
    free_device(device)
    return 10 * 2 * n ** 3 / seconds, n


def write_model(path, shape, fixtures, moe=False):
    """Random bf16 weights, made on the CPU without an fp32 copy: a pool of normal(0, 0.02) values tiled
    into every matrix from random offsets (speed does not depend on the values), norms at 1. moe: a Qwen3-MoE
    of MOE_SHAPES[shape], saved as transformers saves it (one matrix per expert)."""
    if moe:
        from transformers import Qwen3MoeConfig as Config, Qwen3MoeForCausalLM as Model
        config = Config(**MOE_SHAPES[shape], max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=False,
                        norm_topk_prob=True)
    else:
        from transformers import Qwen2Config as Config, Qwen2ForCausalLM as Model
        config = Config(**SHAPES[shape], max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=False)
    config.dtype = "bfloat16"
    with torch.device("meta"):
        model = Model(config)
    model = model.to(torch.bfloat16).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    pool = (torch.randn(1 << 24, generator=generator) * 0.02).to(torch.bfloat16)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            flat = parameter.view(-1)
            if "norm" in name:
                flat.fill_(1)
                continue
            done = 0
            while done < flat.numel():
                offset = int(torch.randint(0, pool.numel() // 2, (1,), generator=generator))
                n = min(flat.numel() - done, pool.numel() - offset)
                flat[done:done + n].copy_(pool[offset:offset + n])
                done += n
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(fixtures) / name, path / name)
    base = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)
    del model, pool
    gc.collect()
    return config, base


def dataset(path, rows, words):
    """ShareGPT rows whose reply is far longer than any --max_length used (truncated to it)."""
    vocabulary = ["alpha", "river", "stone", "bright", "seven", "market", "quiet", "north", "window", "garden"]
    with open(path, "w") as out:
        for r in range(rows):
            reply = " ".join(vocabulary[(r * 7 + i * 3) % len(vocabulary)] + str(i % 97) for i in range(words))
            out.write(json.dumps({"conversations": [{"from": "human", "value": f"Tell me story {r}."},
                                                    {"from": "gpt", "value": reply}]}) + "\n")


def run_ztune(command, env, clock, log):
    """Runs a ztune command within the time left; its output goes to `log`."""
    timeout = max(10.0, clock.left() - 5)
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if done.returncode != 0:
        tail = Path(log).read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{' '.join(map(str, command[:2]))} exited {done.returncode} (log {log}): {tail}")


def ztune_sft(ztune, model, data, out, tokens, steps, extra, env, clock):
    shutil.rmtree(out, ignore_errors=True)
    command = [ztune, "sft", "--model", str(model), "--dataset", str(data), "--max_length", str(tokens),
               "--truncation_strategy", "right", "--max_steps", str(steps), "--logging_steps", "1",
               "--save_steps", "100000", "--save_only_model", "true", "--per_device_train_batch_size", "1",
               "--gradient_accumulation_steps", "1", "--lora_rank", "8", "--lora_alpha", "32",
               "--target_modules", "all-linear", "--gradient_checkpointing", "true", "--bf16", "true",
               "--report_to", "none", "--output_dir", str(out)] + extra
    run_ztune(command, env, clock, f"{out}.log")
    log = [json.loads(line) for run in out.glob("v1-*") for line in (run / "logging.jsonl").read_text().splitlines()]
    log = [e for e in log if "loss" in e]
    # Elapsed seconds at each step, precisely: train_speed(s/it) x steps since the start.
    elapsed = [e["train_speed(s/it)"] * (i + 1) for i, e in enumerate(log)]
    steady = (elapsed[-1] - elapsed[0]) / max(1, len(log) - 1)
    estimates = [json.loads((run / "estimate.json").read_text()) for run in out.glob("v1-*")
                 if (run / "estimate.json").exists()]
    return {"tokens_per_s": tokens / steady, "step_s": steady, "memory": log[-1].get("memory(GiB)"),
            "allocated": log[-1].get("memory_allocated_peak(GiB)"), "estimate": estimates[0] if estimates else None}


def prompts(path, count):
    with open(path, "w") as out:
        for i in range(count):
            out.write(json.dumps({"messages": [{"role": "user", "content": f"Write about the number {i} " * 8}]}) + "\n")


def ztune_decode_rate(ztune, model, rows, batch, work, env, clock):
    seconds = {}
    for new in (1, 256):
        start = time.perf_counter()
        run_ztune([ztune, "infer", "--model", str(model), "--val_dataset", str(rows), "--temperature", "0",
                   "--max_new_tokens", str(new), "--max_batch_size", str(batch), "--torch_dtype", "bfloat16",
                   "--result_path", str(work / f"infer-{batch}-{new}.jsonl")], env, clock, work / f"infer-{batch}-{new}.log")
        seconds[new] = time.perf_counter() - start
    return batch * 255 / (seconds[256] - seconds[1])


def hf_decode_rate(model, tokenizer_dir, batch, device):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = [f"Write about the number {i} " * 8 for i in range(batch)]
    inputs = tokenizer(texts, return_tensors="pt", padding=True).to(device)
    seconds = {}
    for new in (1, 256):
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)
        sync(device)
        seconds[new] = time.perf_counter() - start
    return batch * 255 / (seconds[256] - seconds[1])


def hf_train(model, tokens, steps, device, targets="all-linear", dropout=0.05):
    from peft import LoraConfig, get_peft_model
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=dropout, target_modules=targets,
                                                  task_type="CAUSAL_LM"))
    peft_model.train()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (1, tokens), device=device)
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
    steady = sum(times[1:]) / max(1, len(times) - 1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    del optimizer, loss
    return {"tokens_per_s": tokens / steady, "step_s": steady, "peak_gib": peak, "model": peft_model}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ztune")
    parser.add_argument("work")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--fixtures", default=str(ROOT / "tests" / "fixtures" / "out" / "qwen2"))
    args = parser.parse_args()
    clock = Clock(args.budget)

    def out_of_time(signum, frame):
        raise OutOfTime()
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(max(1, int(args.budget)))
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, ZTUNE_DEVICE=args.device)
    results = Results(work)

    # Each part has the seconds it needs at the 7B shape on an H100 (start-up, loading 15 GB, the steps), or
    # at the dry run's tiny shape on a CPU: it starts only when that much time is left.
    def part(name, needs, body):
        if clock.left() < needs:
            results.add(name, "not run", note=f"time budget ({clock.left():.0f} s left, needs {needs} s)")
            return
        start = time.monotonic()
        try:
            body()
        except Exception as error:  # a failed part is a row; the others still run
            with open(work / "errors.log", "a") as out:
                out.write(f"== {name}\n{traceback.format_exc()}\n")
            results.add(name, "error", note=" ".join(str(error).split())[:300])
        finally:
            with open(work / "timings.jsonl", "a") as out:
                out.write(json.dumps({"part": name, "seconds": round(time.monotonic() - start, 1)}) + "\n")

    results.add("machine", machine(args.device), note=f"budget {args.budget:.0f} s, shape {args.shape}")
    try:
        run_parts(args, clock, work, env, results, part)
    except OutOfTime:  # what was measured is in the table already; a subprocess under way was killed by run()
        results.add("(cut off)", "", note=f"the {args.budget:.0f} s budget ran out during a part")
    finally:
        signal.alarm(0)


def run_parts(args, clock, work, env, results, part):
    measured = {}
    big = args.shape == "7b"

    def rate():
        value, n = matrix_rate(args.device)
        measured["rate"] = value
        results.add(f"matrix rate ({'bf16' if args.device == 'cuda' else 'fp32'} matmul)", f"{value / 1e12:.2f} TFLOP/s",
                    note=f"{n}^3 x 10", value=value)
    part("matrix rate", 10, rate)

    model_dir, data = work / "model", work / "data.jsonl"

    def build():
        config, base = write_model(model_dir, args.shape, args.fixtures)
        dataset(data, rows=4 * args.steps, words=2 * args.tokens)
        measured["flops_per_token"] = 6 * base + 8 * config.num_hidden_layers * args.tokens * config.num_attention_heads * (
            config.hidden_size // config.num_attention_heads)
        measured["base"] = base
    part("model", 60 if big else 10, build)
    if "flops_per_token" not in measured:
        return

    def train():
        ours = ztune_sft(args.ztune, model_dir, data, work / "sft", args.tokens, args.steps, ["--lora_dropout", "0.05"],
                         env, clock)
        measured["train"] = ours
        results.add(f"ztune train tokens/s, {args.tokens} tokens/step", f"{ours['tokens_per_s']:.0f}",
                    note=f"{ours['step_s']:.3f} s/step", value=ours["tokens_per_s"])
        if "rate" in measured:
            mfu = ours["tokens_per_s"] * measured["flops_per_token"] / measured["rate"]
            results.add("MFU (of the measured matrix rate)", f"{100 * mfu:.1f}%", target=">= 45%",
                        note=f"{measured['flops_per_token'] / 1e9:.3f} GFLOP/token", value=mfu)
    part("ztune train", 45 if big else 20, train)

    def decode(batch):
        def body():
            rows_path = work / f"prompts-{batch}.jsonl"
            prompts(rows_path, batch)
            value = ztune_decode_rate(args.ztune, model_dir, rows_path, batch, work, env, clock)
            measured[f"decode{batch}"] = value
            results.add(f"ztune greedy decode tokens/s, batch {batch}, 256 new", f"{value:.0f}", value=value)
        return body
    part("ztune decode batch 1", 40 if big else 20, decode(1))

    # The reference, once every ztune run above has ended: one load; decode, train, decode; then freed.
    def decode_reference(model, batch):
        if clock.left() < (30 if big else 10):
            results.add(f"transformers greedy decode, batch {batch}", "", "not run", note="time budget")
            return
        theirs = hf_decode_rate(model, model_dir, batch, args.device)
        ours = measured.get(f"decode{batch}")
        results.add(f"greedy decode tokens/s, batch {batch}, 256 new", f"{ours:.0f}" if ours else "(later)",
                    f"{theirs:.0f}", ">= 1.5x", f"{ours / theirs:.2f}x" if ours else "", value=theirs)
        measured[f"hf_decode{batch}"] = theirs

    def reference():
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map=args.device)
        model.eval()
        try:
            decode_reference(model, 1)
            if clock.left() < (45 if big else 15):
                results.add("transformers + peft train", "", "not run", note="time budget")
            else:
                theirs = hf_train(model, args.tokens, args.steps, args.device)
                model = theirs.pop("model")
                ours = measured.get("train")
                results.add(f"train tokens/s, {args.tokens} tokens/step", f"{ours['tokens_per_s']:.0f}" if ours else "",
                            f"{theirs['tokens_per_s']:.0f}", ">= 1.3x",
                            f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x" if ours else "",
                            value=theirs["tokens_per_s"], reference_peak_gib=theirs["peak_gib"])
                model = model.unload()  # the base model again, for decoding
                model.gradient_checkpointing_disable()
                model.eval()
            decode_reference(model, 16)
        finally:
            del model
            free_device(args.device)
    part("reference", 75 if big else 30, reference)

    def peak():
        result = ztune_sft(args.ztune, model_dir, data, work / "sft-2048", 2048, 3, ["--lora_dropout", "0.05"], env, clock)
        if result["allocated"] is None:  # on the CPU ztune logs the resident set
            results.add("peak memory, 2,048 tokens, batch 1", f"{result['memory']:.2f} GiB resident", "ms-swift: 22 GB (GPU)",
                        "<= 18 GB (GPU)", "CPU dry run")
        else:
            results.add("peak memory, 2,048 tokens, batch 1", f"{result['allocated']:.2f} GiB allocated", "ms-swift: 22 GB",
                        "<= 18 GB", f"{result['memory']:.2f} GiB reserved", value=result["allocated"])
        if result["estimate"] is not None:  # ztune estimate against the measured step 1
            record = result["estimate"]
            actual, estimated = record["measured"]["ranks"][0]["peak_bytes"], record["estimate"]["peak"]
            results.add("estimate vs measured peak, step 1", f"{estimated / 2**30:.2f} GiB estimated",
                        f"{actual / 2**30:.2f} GiB measured", "within 10%",
                        f"{100 * (estimated - actual) / actual:+.1f}% ({record['measured']['allocator']})")
    part("ztune peak memory", 30 if big else 15, peak)

    # A mixture of experts (issue 31): a Qwen3-30B-A3B-shaped LoRA step, the experts adapted (PEFT
    # target_parameters) and dropout 0 (PEFT refuses it on stacked experts), against transformers + peft with its
    # fastest experts implementation (grouped_mm). ztune runs first and has ended before the reference loads.
    def moe():
        moe_dir = work / "moe" / "model"  # pack() leaves */model/* out of the archive
        write_model(moe_dir, args.shape, args.fixtures, moe=True)
        tokens = min(args.tokens, 4096)
        ours = ztune_sft(args.ztune, moe_dir, data, work / "sft-moe", tokens, args.steps,
                         ["--lora_dropout", "0", "--target_modules", *MOE_TARGETS], env, clock)
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(moe_dir, dtype=torch.bfloat16, device_map=args.device,
                                                     experts_implementation="grouped_mm")
        try:
            theirs = hf_train(model, tokens, args.steps, args.device, targets=MOE_TARGETS, dropout=0.0)
            theirs.pop("model")
        finally:
            del model
            free_device(args.device)
            shutil.rmtree(moe_dir, ignore_errors=True)
        layers = MOE_SHAPES[args.shape]["num_hidden_layers"]
        peaks = (f"peak {ours['allocated']:.2f} against {theirs['peak_gib']:.2f} GiB allocated"
                 if ours["allocated"] is not None and theirs["peak_gib"] is not None else "CPU dry run")
        results.add(f"MoE train tokens/s, Qwen3-30B-A3B shape ({layers} layers), {tokens} tokens/step",
                    f"{ours['tokens_per_s']:.0f}", f"{theirs['tokens_per_s']:.0f} (grouped_mm)", "",
                    f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x; {peaks}", value=ours["tokens_per_s"])
    part("MoE train", 150 if big else 30, moe)

    def decode16():
        decode(16)()
        if "hf_decode16" in measured:
            ours, theirs = measured["decode16"], measured["hf_decode16"]
            results.add("greedy decode tokens/s, batch 16, 256 new", f"{ours:.0f}", f"{theirs:.0f}", ">= 1.5x",
                        f"{ours / theirs:.2f}x")
    part("ztune decode batch 16", 40 if big else 20, decode16)

    def variant(name, folder, extra):
        def body():
            result = ztune_sft(args.ztune, model_dir, data, work / folder, args.tokens, args.steps, extra, env, clock)
            base = measured.get("train")
            if name.startswith("ZeRO-3"):
                results.add(name, f"{result['step_s']:.3f} s", f"no --deepspeed {base['step_s']:.3f} s" if base else "", "",
                            f"{result['step_s'] / base['step_s']:.2f}x" if base else "")
            else:
                results.add(name, f"{result['step_s']:.3f} s", f"dropout 0.05 {base['step_s']:.3f} s" if base else "", "",
                            f"dropout costs {100 * (base['step_s'] / result['step_s'] - 1):.1f}%" if base else "")
        return body
    part("ZeRO-3 step time", 45 if big else 20,
         variant("ZeRO-3 step time", "sft-zero3", ["--lora_dropout", "0.05", "--deepspeed", "zero3"]))
    part("dropout 0 step time", 45 if big else 20, variant("dropout 0 step time", "sft-nodrop", ["--lora_dropout", "0"]))
    shutil.rmtree(model_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
