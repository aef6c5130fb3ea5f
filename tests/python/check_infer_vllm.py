#!/usr/bin/env python3
"""`ztune infer --infer_backend vllm`: the hand-off to vLLM, and the fallback when vLLM cannot run.

usage: check_infer_vllm.py ZTUNE MODEL_DIR DATASET WORK_DIR

vLLM's wheels need a CUDA GPU, so this machine cannot run it; tests/python/vllm_standin is a stand-in with vLLM's
offline API (the same constructor and SamplingParams arguments, refusing others; RequestOutput token ids) that
generates greedily with transformers and logs every call. With it on PYTHONPATH:
  - `--adapters A --merge_lora true`: vLLM is built on A-merged (absolute path) with skip_tokenizer_init, the
    dtype, seed and --vllm_* flags given; no LoRA;
  - `--adapters A` (no merge): vLLM is built on the base model with enable_lora and --vllm_max_lora_rank, and every
    request carries a LoRARequest for A;
  - each request's prompt_token_ids equal ms-swift's own encoding of the row (template qwen2_5), temperature 0,
    max_tokens = --max_new_tokens, stop_token_ids = the template's stop token and generation_config's eos;
  - the replies equal `--infer_backend pt`'s (ztune's own engine) row by row, in batch inference and in the chat;
  - a bad --vllm_engine_kwargs key reaches vLLM, whose refusal is one line and ztune falls back.
Without it (no vLLM importable): one warning line saying so, and the same replies from ztune's engine.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from check_infer import make_random_adapter, swift_prompt_ids

HERE = Path(__file__).resolve().parent
MAX_NEW = 20


def infer(ztune, args, rows_path, result, standin, log=None, stdin=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("VLLM_STANDIN_LOG", None)
    env["PYTHONPATH"] = str(HERE / "vllm_standin") if standin else ""
    env["ZTUNE_PYTHON"] = sys.executable
    if log:
        env["VLLM_STANDIN_LOG"] = str(log)
    command = [ztune, "infer", *args, "--temperature", "0", "--max_new_tokens", str(MAX_NEW)]
    if rows_path:
        command += ["--val_dataset", str(rows_path), "--result_path", str(result)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, input=stdin)
    if done.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {done.returncode}: {(done.stdout + done.stderr)[-2000:]}")
    replies = [json.loads(line)["response"] for line in Path(result).read_text().splitlines()] if rows_path else None
    return replies, done


def read_log(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()] if Path(path).exists() else []


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    failures = []
    rows = [json.loads(line) for line in dataset.read_text().splitlines()[:8]]
    val = work / "val.jsonl"
    val.write_text("".join(json.dumps(r) + "\n" for r in rows))
    adapter = work / "random-adapter"
    if not (adapter / "adapter_config.json").exists():
        make_random_adapter(model, adapter)
    base_args = ["--adapters", str(adapter), "--model", model]

    own, _ = infer(ztune, base_args + ["--infer_backend", "pt"], val, work / "pt.jsonl", standin=False)
    if len(set(own)) < 3:
        failures.append(f"the random adapter's replies are too uniform to test anything: {own[:3]}")
    prompts = [r["messages"] for r in (json.loads(line) for line in (work / "pt.jsonl").read_text().splitlines())]
    expected_ids = [swift_prompt_ids(model, p) for p in prompts]
    generation = json.loads((Path(model) / "generation_config.json").read_text())
    eos = generation.get("eos_token_id")
    from transformers import AutoTokenizer
    im_end = AutoTokenizer.from_pretrained(model).convert_tokens_to_ids("<|im_end|>")
    expected_stops = sorted({im_end, *(eos if isinstance(eos, list) else [eos])})

    cases = [
        ("merged", ["--merge_lora", "true", "--vllm_gpu_memory_utilization", "0.5", "--vllm_max_model_len", "1024",
                    "--vllm_enforce_eager", "true", "--torch_dtype", "float32"],
         {"model": str((Path(str(adapter) + "-merged")).resolve()), "skip_tokenizer_init": True, "dtype": "float32",
          "gpu_memory_utilization": 0.5, "max_model_len": 1024, "enforce_eager": True, "seed": 42}, None),
        ("adapter", ["--vllm_max_lora_rank", "8", "--vllm_max_num_seqs", "4"],
         {"model": str(Path(model).resolve()), "skip_tokenizer_init": True, "enable_lora": True, "max_lora_rank": 8,
          "max_num_seqs": 4}, str(adapter.resolve())),
    ]
    for name, extra, expected_init, lora in cases:
        log = work / f"vllm-{name}.jsonl"
        log.unlink(missing_ok=True)
        replies, done = infer(ztune, base_args + ["--infer_backend", "vllm", *extra], val, work / f"vllm-{name}.jsonl.out",
                              standin=True, log=log)
        calls = read_log(log)
        inits = [c for c in calls if c["event"] == "init"]
        requests = [c for c in calls if c["event"] == "generate"]
        sent = [p["prompt_token_ids"] for c in requests for p in c["prompts"]]
        print(f"{name}: vLLM built with {json.dumps({k: v for k, v in inits[0].items() if k != 'event'}) if inits else None}; "
              f"{len(requests)} request(s), {len(sent)} prompts; {sum(a == b for a, b in zip(replies, own))}/{len(own)} "
              "replies equal to ztune's engine")
        if "handed to vLLM 0.0.0+ztune-standin" not in (done.stdout + done.stderr):
            failures.append(f"{name}: the log does not say the model was handed to vLLM: {(done.stdout + done.stderr)[-600:]}")
        if len(inits) != 1 or any(inits[0].get(k) != v for k, v in expected_init.items()):
            failures.append(f"{name}: vLLM was built with {inits}, expected {expected_init}")
        if sent != expected_ids:
            failures.append(f"{name}: prompt token ids differ from ms-swift's encoding")
        for request in requests:
            s = request["sampling"]
            if (s["temperature"], s["max_tokens"], sorted(s["stop_token_ids"]), s["detokenize"]) != (
                    0.0, MAX_NEW, expected_stops, False):
                failures.append(f"{name}: sampling parameters {s}")
            if (request["lora"] or {}).get("lora_path") != lora:
                failures.append(f"{name}: LoRA request {request['lora']}, expected the adapter at {lora}")
        if replies != own:
            failures.append(f"{name}: replies differ from ztune's engine: {list(zip(replies, own))[:2]}")

    # The chat (piped input), through vLLM and through ztune's engine: the same replies, turn by turn.
    chat_input = f"{prompts[0][-1]['content']}\nTell me more.\nexit\n"
    log = work / "vllm-chat.jsonl"
    log.unlink(missing_ok=True)
    _, via_vllm = infer(ztune, base_args + ["--infer_backend", "vllm"], None, None, standin=True, log=log,
                        stdin=chat_input)
    _, via_own = infer(ztune, base_args + ["--infer_backend", "pt"], None, None, standin=False, stdin=chat_input)
    def chat_replies(done):
        return [line for line in done.stdout.splitlines() if line.startswith(">>> ")]
    print(f"chat: {len(chat_replies(via_vllm))} replies through vLLM, first {chat_replies(via_vllm)[:1]}")
    if len(chat_replies(via_own)) != 2 or chat_replies(via_vllm) != chat_replies(via_own):
        failures.append(f"chat through vLLM: {chat_replies(via_vllm)} != ztune's {chat_replies(via_own)}")
    if len([c for c in read_log(log) if c["event"] == "generate"]) != 2:
        failures.append("chat through vLLM: vLLM was not asked once per turn")

    # vLLM refusing an engine argument: one line naming it, then ztune's own engine.
    replies, done = infer(ztune, base_args + ["--infer_backend", "vllm", "--vllm_engine_kwargs", '{"no_such_knob": 1}'],
                          val, work / "vllm-bad-kwargs.jsonl", standin=True)
    lines = [l for l in (done.stdout + done.stderr).splitlines() if "--infer_backend vllm:" in l]
    print(f"refused engine argument: {lines[0][:160] if lines else None}")
    if len(lines) != 1 or "no_such_knob" not in lines[0] or replies != own:
        failures.append(f"a refused engine argument: expected one line naming it and ztune's replies: {lines}")

    # No vLLM at all.
    replies, done = infer(ztune, base_args + ["--infer_backend", "vllm", "--merge_lora", "true"], val,
                          work / "no-vllm.jsonl", standin=False)
    lines = [l for l in (done.stdout + done.stderr).splitlines() if "--infer_backend vllm:" in l]
    print(f"no vLLM: {lines[0][:160] if lines else None}")
    if len(lines) != 1 or "not importable" not in lines[0] or "ztune's own engine" not in lines[0]:
        failures.append(f"without vLLM: expected one line saying vLLM is not importable: {lines}")
    if replies != own:
        failures.append("without vLLM: replies differ from ztune's engine")

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
