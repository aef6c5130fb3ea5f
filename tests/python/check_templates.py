#!/usr/bin/env python3
"""Encoding parity with ms-swift 4.6 for the templates beyond the Qwen2.5/Llama-3 ones, on tokenizers that
carry the templates' own special tokens.

usage: check_templates.py ENCODE_TOOL FIXTURES_DIR SAMPLE_DIR WORK_DIR

Builds three model folders the way real ones are shaped:
  - qwen3: the Qwen3 fixture with <think> and </think> as added (non-special) tokens, as Qwen3 ships them;
  - deepseek-r1: the Qwen2 fixture with DeepSeek-R1's <｜begin▁of▁sentence｜>, <｜end▁of▁sentence｜>,
    <｜User｜>, <｜Assistant｜> and the think tags (R1-Distill-Qwen's layout);
  - mistral: the Qwen2 fixture's byte-level BPE with Mistral's <s>, </s>, [INST], [/INST], [SYSTEM_PROMPT] and
    [/SYSTEM_PROMPT] control tokens (Mistral-Nemo's and Mistral-Small-2501's layout);
  - llama2: a SentencePiece-style tokenizer with byte fallback, <s>/</s> special and a LlamaTokenizer config
    (transformers 5 rebuilds its pipeline; ms-swift tokenizes each piece separately, each gaining its "▁");
writes conversations that exercise thinking (think blocks in history and in the last reply, replies without
one, no system, an empty system, per-message loss, a reply ending with the stop word), and requires
tests/python/encoding_parity.py's check to pass (in this process) for every template and loss scale on them and
on the bundled samples: ids and labels equal ms-swift's row by row.
"""
import json
import shutil
import sys
from pathlib import Path

from tokenizers import AddedToken, Tokenizer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import encoding_parity  # noqa: E402
from check_tokenizer_shapes import build as build_shape, training_text  # noqa: E402

THINKING = [
    [{"role": "user", "content": "Hi there"},
     {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\nHello!"},
     {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."},
     {"role": "user", "content": "Another?"},
     {"role": "assistant", "content": "Red."}],
    [{"role": "system", "content": ""},
     {"role": "user", "content": "Why is the sky blue?"},
     {"role": "assistant", "content": "  <think>scattering</think>  Rayleigh scattering.  "}],
    [{"role": "user", "content": "Count to three."},
     {"role": "assistant", "content": "<think>\n\n</think>\n\n1, 2, 3", "loss": False},
     {"role": "user", "content": "And back?"},
     {"role": "assistant", "content": "3, 2, 1"}],
    [{"role": "user", "content": "Say hi"},
     {"role": "assistant", "content": "hi</s>"}],
    [{"role": "user", "content": "Say hi"},
     {"role": "assistant", "content": "hi<|im_end|>"}],
    [{"role": "user", "content": "你好，请用中文回答。"},
     {"role": "assistant", "content": "<think>用户用中文提问。</think>\n你好！有什么可以帮你？"},
     {"role": "user", "content": "谢谢"},
     {"role": "assistant", "content": "不客气。"}],
]


def add_tokens(source, target, special, plain):
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name != "tokenizer.json" and item.is_file() and item.suffix in (".json", ".jinja"):
            shutil.copy(item, target / item.name)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    tokenizer.save(str(target / "tokenizer.json"))
    # transformers 5 takes added tokens from tokenizer_config.json's added_tokens_decoder where it has one; real
    # folders list the same tokens in both files.
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config["added_tokens_decoder"] = {
        str(entry["id"]): {key: entry[key] for key in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for entry in json.loads((target / "tokenizer.json").read_text())["added_tokens"]}
    config_path.write_text(json.dumps(config, ensure_ascii=False))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    tool, fixtures, sample, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = work / "thinking.jsonl"
    data.write_text("".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in THINKING), encoding="utf-8")

    qwen3 = work / "qwen3"
    add_tokens(fixtures / "qwen3", qwen3, [], ["<think>", "</think>"])
    r1 = work / "deepseek-r1"
    add_tokens(fixtures / "qwen2", r1, ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
               ["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"])
    config = json.loads((r1 / "tokenizer_config.json").read_text())  # keeps added_tokens_decoder
    config.update({"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"})
    config.pop("chat_template", None)
    (r1 / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False))
    # Mistral-Nemo and Mistral-Small-2501 ship a byte-level BPE ("tekken") with [INST]-style control tokens and a
    # PreTrainedTokenizerFast config.
    mistral = work / "mistral"
    add_tokens(fixtures / "qwen2", mistral, ["<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"],
               [])
    config = json.loads((mistral / "tokenizer_config.json").read_text())
    config.update({"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "PreTrainedTokenizerFast"})
    config.pop("chat_template", None)
    (mistral / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False))
    model_config = json.loads((mistral / "config.json").read_text())
    model_config.update({"model_type": "mistral", "architectures": ["MistralForCausalLM"]})
    (mistral / "config.json").write_text(json.dumps(model_config))
    llama2 = work / "llama2"
    tokenizer_json = build_shape("spm-legacy", work / "spm-legacy", training_text())
    llama2.mkdir()
    shutil.copy(tokenizer_json, llama2 / "tokenizer.json")
    (llama2 / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": False}))
    (llama2 / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))

    samples = [str(sample / "sharegpt_seed.jsonl"), str(sample / "messages.jsonl")]
    runs = [
        (qwen3, "qwen3", ["qwen3", "qwen3_thinking", "qwen3_nothinking", "qwen3_5", "chatml"], [str(data)] + samples),
        (r1, "qwen2", ["deepseek_r1"], [str(data)] + samples),
        (qwen3, "qwen3", ["qwq", "qwq_preview", "qwen2_5_math", "qwen3_coder"], [str(data), samples[0]]),
        (mistral, "mistral_nemo", ["mistral_nemo", "mistral_2501"], [str(data)] + samples),
        (llama2, "llama", ["llama", "chatml", "default"], [str(data)] + samples),
        (fixtures / "llama", "llama", ["llama3_2"], [str(data), samples[0]]),
    ]
    # One process for every run: ms-swift and torch are imported once, each folder's processor loaded once.
    failures = []
    for folder, model_type, templates, files in runs:
        lines = []
        checked, failed = encoding_parity.check(tool, str(folder), model_type, work / f"parity-{folder.name}", files,
                                                templates, 4096, 4096, report=lines.append)
        print(f"{folder.name} {' '.join(templates)}: {'ok' if checked and not failed else 'FAILED'} ({checked} rows)")
        for line in ([f"FAIL: {f}" for f in failed[:10]] if failed or not checked else lines[-6:]):
            print("   ", line, flush=True)
        if failed or not checked:
            failures.append(folder.name)
    if failures:
        sys.exit(f"FAIL: {failures}")
    print("ok")


if __name__ == "__main__":
    main()
