"""A Llama-architecture folder whose chat template is none of ms-swift's (Mistral-7B-Instruct-v0.2's, as its repo
publishes it), under a neutral folder name, as a user would meet one (issue 29):

1. `ztune sft` chooses the folder's own template (the log says so), trains, and writes args.json with ms-swift's
   spelling for it (template null, template_backend jinja);
2. `ztune infer` on the checkpoint and `swift infer --template_backend jinja` (ms-swift rendering the same template
   with transformers; its --template chatml only supplies ms-swift's template metadata, without a default system
   prompt that ms-swift would insert, as --template llama would) give the same greedy replies;
3. `ztune export --merge_lora true` writes a folder that transformers loads; its greedy replies to the prompts
   rendered by the folder's template with apply_chat_template equal ztune's.

usage: check_jinja_folder.py ZTUNE LLAMA_FIXTURE TEMPLATE_FILE DATASET WORK_DIR
"""
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from check_swift_interchange import MAX_NEW, PROMPTS, replies, run, swift_command  # noqa: E402


def main():
    ztune, fixture, template_file, dataset, work = sys.argv[1:6]
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = work / "my-assistant-v2"
    shutil.copytree(fixture, model)
    config_path = model / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = Path(template_file).read_text(encoding="utf-8")
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2))
    for stray in ["chat_template.jinja", "chat_template.json"]:
        (model / stray).unlink(missing_ok=True)
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"messages": [{"role": "user", "content": p}]}) + "\n" for p in PROMPTS))
    failures = []

    out = work / "run"
    done = run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", "4", "--save_steps", "4",
                "--learning_rate", "1e-4", "--max_length", "256", "--output_dir", out, "--report_to", "none"])
    log = done.stdout + done.stderr
    if "chat template jinja" not in log or "which no ms-swift template matches" not in log:
        failures.append("ztune sft did not say it chose the folder's own template: " +
                        next((line for line in log.splitlines() if "chat template" in line), "(no chat template line)"))
    checkpoint = next(out.glob("v1-*")) / "checkpoint-4"
    args = json.loads((checkpoint / "args.json").read_text())
    if args.get("template") is not None or args.get("template_backend") != "jinja":
        failures.append(f"args.json: template {args.get('template')!r}, template_backend {args.get('template_backend')!r}")

    ours_file, theirs_file = work / "ztune-infer.jsonl", work / "swift-infer.jsonl"
    run([ztune, "infer", "--adapters", checkpoint, "--val_dataset", prompts, "--temperature", "0",
         "--max_new_tokens", MAX_NEW, "--result_path", ours_file])
    swift = swift_command()
    run([swift, "infer", "--adapters", checkpoint, "--model", model, "--model_type", "llama", "--template", "chatml",
         "--template_backend", "jinja", "--infer_backend", "pt", "--val_dataset", prompts, "--temperature", "0",
         "--max_new_tokens", MAX_NEW, "--result_path", theirs_file])
    ours, theirs = replies(ours_file), replies(theirs_file)
    if ours != theirs:
        failures.append(f"greedy replies differ: ztune {ours} vs swift (template_backend jinja) {theirs}")
    else:
        print(f"{len(ours)} greedy replies equal in ztune infer and swift infer --template_backend jinja: {ours}")
    if not any(reply.strip() for reply in ours):
        failures.append("every greedy reply is empty; the comparison proves nothing")

    merged = work / "merged"
    run([ztune, "export", "--adapters", checkpoint, "--merge_lora", "true", "--output_dir", merged])
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(merged)
    network = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32)
    exported = []
    for prompt in PROMPTS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            tokenize=True, return_dict=True, return_tensors="pt")["input_ids"]
        output = network.generate(ids, max_new_tokens=int(MAX_NEW), do_sample=False,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
        reply = output[0, ids.shape[1]:].tolist()  # printed as ms-swift prints it: the stopping eos left out
        reply = reply[:next((i for i, t in enumerate(reply) if t == tokenizer.eos_token_id), len(reply))]
        exported.append(tokenizer.decode(reply, skip_special_tokens=False))
    if exported != ours:
        failures.append(f"the exported folder in transformers replies {exported}, ztune infer {ours}")
    else:
        print("the merged folder's greedy replies in transformers (its own template) equal ztune infer's")

    for line in failures:
        print("FAIL", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
