#!/usr/bin/env python3
"""Every numeric flag of `ztune sft`, `ztune infer` and `ztune estimate` is range-checked before any work.

usage: check_numeric_flags.py ZTUNE MODEL_DIR DATASET WORK_DIR

The flag tables come from the binary (`ztune COMMAND --list_flags_json`); estimate's own flags are listed here.
Each numeric flag is tried at 0, a negative number, NaN, infinity and past its type's range (flags that bind no
field, which ms-swift has and ztune accepts or refuses by value, at 0, NaN and an overflow):
- the command exits 0 or 2, never by a signal, with no internal check, stack trace or "terminate called";
- an exit 2 names the flag;
- every bound numeric flag declares its range (the `range` of the table), and the values the issue found training
  wrongly or crashing are refused (exit 2): batch sizes and accumulation 0 or negative, LoRA rank 0 or negative,
  a negative learning rate.
Every value goes through the command's own parser first, all in one process (`ztune COMMAND --parse_lines_json`,
which parses as the command does); the values it accepts then run as real commands: sft with --dry_run true (the
estimate: nothing loads), infer generating one token from the tiny model; estimate's own flags always run.
"""
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

INT_VALUES = ["0", "-1", "nan", "inf", "2147483648"]
FLOAT_VALUES = ["0", "-7.5", "nan", "inf", "1e400"]
UNBOUND_VALUES = ["0", "nan", "1e400"]
ESTIMATE_OWN = ["nnodes", "nproc_per_node", "matrix_tflops", "intra_node_gbps", "inter_node_gbps", "device_memory_gib"]
MUST_REFUSE = {("sft", "per_device_train_batch_size", "0"), ("sft", "per_device_train_batch_size", "-1"),
               ("sft", "gradient_accumulation_steps", "0"), ("sft", "lora_rank", "0"), ("sft", "lora_rank", "-1"),
               ("sft", "learning_rate", "-7.5"), ("sft", "lora_dropout", "-7.5"),
               ("infer", "max_new_tokens", "0"), ("estimate", "nnodes", "0"), ("estimate", "nnodes", "inf")}
CRASH = ("internal check failed", "terminate called", "Floating point exception", "Segmentation fault", "frame #",
         "Traceback", "uncaught exception")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    prompts = work / "prompts.jsonl"
    prompts.write_text(json.dumps({"messages": [{"role": "user", "content": "Hello"}]}) + "\n")
    base = {
        "sft": ["--model", model, "--dataset", dataset, "--dry_run", "true"],
        "infer": ["--model", model, "--val_dataset", str(prompts), "--max_new_tokens", "1", "--temperature", "0",
                  "--result_path", str(work / "infer.jsonl")],
        "estimate": ["--model", model, "--dataset", dataset, "--measure", "false"],
    }
    failures, cases = [], []
    for command in ("sft", "infer"):
        flags = json.loads(subprocess.run([ztune, command, "--list_flags_json"], capture_output=True, text=True,
                                          check=True).stdout)
        for flag in flags:
            if flag["kind"] not in ("int", "float"):
                continue
            bound = flag["status"] in ("bound", "positional")
            if bound and "range" not in flag:
                failures.append(f"{command} --{flag['name']}: a numeric flag without a declared range")
            values = (INT_VALUES if flag["kind"] == "int" else FLOAT_VALUES) if bound else UNBOUND_VALUES
            for value in values:
                cases.append((command, flag["name"], value))
    for name in ESTIMATE_OWN:
        for value in FLOAT_VALUES + ["-1"]:
            cases.append(("estimate", name, value))
    for case in MUST_REFUSE:
        if case not in cases:
            failures.append(f"{case}: not among the cases (the flag is gone or not numeric)")

    # The parser's answer for every sft and infer value, in one process per command.
    parsed = {}
    for command in ("sft", "infer"):
        mine = [case for case in cases if case[0] == command]
        lines = "".join(json.dumps(base[command] + [f"--{name}", value]) + "\n" for _, name, value in mine)
        done = subprocess.run([ztune, command, "--parse_lines_json"], input=lines, capture_output=True, text=True,
                              timeout=300)
        answers = [json.loads(line) for line in done.stdout.splitlines()]
        if done.returncode != 0 or len(answers) != len(mine):
            failures.append(f"ztune {command} --parse_lines_json exited {done.returncode} with {len(answers)} answers "
                            f"for {len(mine)} lines: {done.stderr[-800:]}")
            continue
        parsed.update(zip(mine, answers))

    def run(case):
        command, name, value = case
        answer = parsed.get(case)
        if answer is not None and answer["exit"] == 2:
            return case, 2, "error: " + answer["error"]
        done = subprocess.run([ztune, command] + base[command] + [f"--{name}", value], capture_output=True, text=True,
                              timeout=120)
        return case, done.returncode, done.stdout + done.stderr

    refused = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for (command, name, value), code, output in pool.map(run, cases):
            where = f"ztune {command} --{name} {value}"
            if code not in (0, 2):
                failures.append(f"{where}: exit {code}\n{output[-800:]}")
            elif any(marker in output for marker in CRASH):
                failures.append(f"{where}: a crash in the output\n{output[-800:]}")
            elif code == 2 and f"--{name}" not in output:
                failures.append(f"{where}: exit 2 without naming the flag: {output.strip()[-300:]}")
            elif code != 2 and (command, name, value) in MUST_REFUSE:
                failures.append(f"{where}: accepted (exit {code}), must be refused")
            refused += code == 2
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"ok: {len(cases)} numeric flag values: {refused} refused naming the flag (exit 2), {len(cases) - refused} "
          "accepted; no crash")


if __name__ == "__main__":
    main()
