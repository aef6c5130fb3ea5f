#!/usr/bin/env python3
"""`ztune infer`: batch inference against transformers generate, and the terminal chat through a pty.

usage: check_infer.py ZTUNE MODEL_DIR DATASET WORK_DIR

Two adapters: a LoRA checkpoint trained by `ztune sft` (12 steps; the tiny model then mostly answers
newlines) and a PEFT adapter with random A and B (peft's init_lora_weights=False), whose greedy replies
are varied text. Batch: `ztune infer --adapters A --val_dataset VAL --temperature 0 --max_new_tokens 20
--max_batch_size 4` over 10 rows (for the checkpoint, model, template and system are read back from its
args.json; for the PEFT folder --model is given); transformers + peft generate greedily for the same
prompts (ms-swift's own prompt encoding, the same batches left-padded, the template's stop token and
generation_config's eos) and every decoded reply must equal ztune's. The random adapter's replies must
not all be the same. The result rows keep the prompt messages and the reference reply as `labels`. With
--merge_lora true the replies are the same. Chat (random adapter): a pseudo-terminal drives `ztune infer`:
the first reply streams and equals
the batch reply to the same prompt; a second turn sees the history (it equals batch inference of the
two-turn conversation); `clear` empties the history (the next reply equals the first one again);
`exit` ends the process with status 0.
"""
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import torch
from sft_run import run_sft_command

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
MAX_NEW = 20


def swift_prompt_ids(model, messages):
    import logging
    logging.disable(logging.WARNING)
    from swift import get_processor, get_template
    global TEMPLATE
    if "TEMPLATE" not in globals():
        TEMPLATE = get_template(get_processor(model, model_type="qwen2"), template_type="qwen2_5")
        TEMPLATE.set_mode("pt")
    return TEMPLATE.encode({"messages": messages})["input_ids"]


def reference_replies(model, adapter, prompts, batch):
    """transformers + peft's greedy replies (adapter None: the model folder alone)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(model)
    peft_model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    if adapter is not None:
        peft_model = PeftModel.from_pretrained(peft_model, str(adapter)).eval()
    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    eos = json.loads((Path(model) / "generation_config.json").read_text()).get("eos_token_id")
    stop += eos if isinstance(eos, list) else [eos]
    replies = []
    for begin in range(0, len(prompts), batch):
        group = [swift_prompt_ids(model, p) for p in prompts[begin:begin + batch]]
        longest = max(len(g) for g in group)
        ids = torch.tensor([[0] * (longest - len(g)) + g for g in group])
        mask = torch.tensor([[0] * (longest - len(g)) + [1] * len(g) for g in group])
        with torch.no_grad():
            out = peft_model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, do_sample=False,
                                      eos_token_id=stop, pad_token_id=0, temperature=None, top_p=None, top_k=None)
        for row in out[:, longest:].tolist():
            # As ms-swift prints a reply (Template.skip_stop_tokens, then decode): up to the stop token that ended it,
            # less a last eos or <|im_end|>, special tokens as their text.
            row = row[:next((i + 1 for i, t in enumerate(row) if t in stop), len(row))]
            if row and row[-1] == tokenizer.eos_token_id:
                row = row[:-1]
            if row and row[-1] == stop[0]:
                row = row[:-1]
            replies.append(tokenizer.decode(row, skip_special_tokens=False))
    return replies


def make_random_adapter(model, out):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(5)
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    get_peft_model(base, config).save_pretrained(out)


def infer_batch(ztune, args, rows_path, result):
    done = subprocess.run([ztune, "infer", *args, "--val_dataset", str(rows_path), "--temperature", "0",
                           "--max_new_tokens", str(MAX_NEW), "--max_batch_size", "4", "--result_path", str(result)],
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if done.returncode != 0:
        sys.exit(f"FAIL: ztune infer {args} exited {done.returncode}: {done.stderr[-1500:]}")
    return [json.loads(line) for line in Path(result).read_text().splitlines()]


class Terminal:
    """ztune infer on a pseudo-terminal: send lines, read until the next prompt."""

    def __init__(self, command):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["OMP_NUM_THREADS"] = "1"
            os.execv(command[0], command)
        self.buffer = b""

    def read_until(self, marker, timeout=120):
        deadline = time.time() + timeout
        while marker.encode() not in self.buffer:
            if time.time() > deadline:
                raise TimeoutError(f"no {marker!r} in {self.buffer[-800:]!r}")
            ready, _, _ = select.select([self.fd], [], [], 1)
            if ready:
                try:
                    self.buffer += os.read(self.fd, 4096)
                except OSError:
                    break
        head, _, self.buffer = self.buffer.partition(marker.encode())
        return head.decode("utf-8")

    def send(self, line):
        os.write(self.fd, (line + "\n").encode())

    def reply_to(self, line):
        self.send(line)
        self.read_until(">>> ")
        text = self.read_until("<<< ").replace("\r\n", "\n")
        return text[:-1] if text.endswith("\n") else text  # the newline printed after each reply

    def wait(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 4096)
            except OSError:
                pass
            time.sleep(0.1)
        return None


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures = []
    run, _, _ = run_sft_command(ztune, work / "train", 1, [
        "--model", model, "--dataset", dataset, "--max_steps", "12", "--save_steps", "12", "--max_length", "256",
        "--packing", "true", "--gradient_accumulation_steps", "2", "--learning_rate", "5e-3", "--report_to", "none"])
    ckpt = run / "checkpoint-12"
    rows = [json.loads(line) for line in Path(dataset).read_text().splitlines()[:10]]
    val = work / "val.jsonl"
    val.write_text("".join(json.dumps(r) + "\n" for r in rows))

    random_adapter = work / "random-adapter"
    make_random_adapter(model, random_adapter)
    for name, adapter, extra in (("trained checkpoint", ckpt, []), ("random adapter", random_adapter, ["--model", model])):
        results = infer_batch(ztune, ["--adapters", str(adapter)] + extra, val, work / f"result-{adapter.name}.jsonl")
        prompts = [r["messages"] for r in results]
        expected = reference_replies(model, adapter, prompts, 4)
        differing = [i for i, (r, e) in enumerate(zip(results, expected)) if r["response"] != e]
        print(f"batch inference, {name}: {len(results)} replies, {len(results) - len(differing)} equal to "
              f"transformers generate; first: {results[0]['response'][:50]!r}")
        if len(results) != 10 or differing:
            failures.append(f"{name}: replies differ from transformers generate at rows {differing}: "
                            f"{[(results[i]['response'], expected[i]) for i in differing[:2]]}")
        if any(r["labels"] is None or r["messages"][-1]["role"] != "user" for r in results):
            failures.append(f"{name}: result rows lack the prompt messages or the reference reply")
    if len({r["response"] for r in results}) < 3:
        failures.append("the random adapter's replies are too uniform to test anything")
    merged = infer_batch(ztune, ["--adapters", str(ckpt), "--merge_lora", "true"], val, work / "merged.jsonl")
    results = [json.loads(line) for line in (work / "result-checkpoint-12.jsonl").read_text().splitlines()]
    if [r["response"] for r in merged] != [r["response"] for r in results]:
        failures.append("--merge_lora true gives other replies than the adapter")
    if not (Path(str(ckpt) + "-merged") / "config.json").exists():
        failures.append("--merge_lora true did not write CKPT-merged")

    # The terminal chat.
    first = rows[0]["conversation"][0]["human"] if "conversation" in rows[0] else "Hello, who are you?"
    chat_args = ["--adapters", str(random_adapter), "--model", model]
    terminal = Terminal([ztune, "infer", *chat_args, "--temperature", "0", "--max_new_tokens", str(MAX_NEW)])
    try:
        terminal.read_until("<<< ")
        reply1 = terminal.reply_to(first)
        reply2 = terminal.reply_to("Tell me more.")
        terminal.send("clear")
        note = terminal.read_until("<<< ")
        reply3 = terminal.reply_to(first)
        terminal.send("exit")
        status = terminal.wait()
    except TimeoutError as error:
        sys.exit(f"FAIL: the chat did not answer: {error}")
    two_turn = work / "two_turn.jsonl"
    two_turn.write_text(json.dumps({"messages": [{"role": "user", "content": first},
                                                 {"role": "assistant", "content": reply1},
                                                 {"role": "user", "content": "Tell me more."}]}) + "\n" +
                        json.dumps({"messages": [{"role": "user", "content": first}]}) + "\n")
    batch = infer_batch(ztune, chat_args, two_turn, work / "two_turn_result.jsonl")
    print(f"chat: first reply {reply1[:60]!r}; second turn {reply2[:60]!r}; exit status {status}")
    if reply1 != batch[1]["response"]:
        failures.append(f"the streamed reply {reply1!r} differs from batch inference {batch[1]['response']!r}")
    if reply2 != batch[0]["response"]:
        failures.append(f"the second turn {reply2!r} is not the reply to the two-turn history {batch[0]['response']!r}")
    if "history cleared" not in note or reply3 != reply1:
        failures.append(f"'clear' did not reset the history ({note!r}, {reply3!r})")
    if status != 0:
        failures.append(f"'exit' ended with status {status}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
