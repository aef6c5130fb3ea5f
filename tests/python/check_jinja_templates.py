"""Real chat templates through ztune's Jinja interpreter against transformers' apply_chat_template.

For every template of tests/fixtures/chat_templates (as model repos publish them; SOURCES.md names each one's
source) and conversations built from the bundled sample data (2 and 8 turns, with and without a system message,
a tool-calling conversation with `tools`), ztune must give:
  - the same rendered text, with and without the generation prompt;
  - the same token ids (the whole text tokenized, no special tokens added, as apply_chat_template(tokenize=True));
  - the same trained tokens: transformers' assistant masks for templates with {% generation %} blocks (what TRL's
    SFTTrainer trains on with assistant_only_loss), else each reply as TRL splits prompt from completion: the
    text the reply adds to the conversation rendered up to it with the generation prompt (whitespace after the
    end-of-turn text excluded), mapped to tokens by the tokenizer's offsets; with loss_scale last_round only the
    last reply;
  - an error where transformers raises (a template refusing a system message, say), and none where it does not.

usage: check_jinja_templates.py RENDER_CHAT_BINARY TOKENIZER_FIXTURE TEMPLATE_DIR SAMPLE_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer

# Markers of the corpus's template families, added as special tokens so that each is one token (as in the real
# tokenizers), which makes the span boundaries fall where real models put them.
MARKERS = ["[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<start_of_turn>", "<end_of_turn>", "<|begin_of_text|>",
           "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>",
           "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<s>", "</s>", "<think>",
           "</think>", "<tool_call>", "</tool_call>", "<|endoftext|>", "<|im_sep|>", "[AVAILABLE_TOOLS]",
           "[/AVAILABLE_TOOLS]", "[TOOL_CALLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "<|START_OF_TURN_TOKEN|>",
           "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|observation|>"]

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string", "description": "The city"},
                                               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                                               "required": ["city"]}}}]


def sample_turns(sample_dir):
    """(system, [(user, assistant), ...]) of every sample row with a conversation."""
    rows = []
    for name in ["sharegpt_seed.jsonl", "messages.jsonl"]:
        for line in open(Path(sample_dir) / name, encoding="utf-8"):
            row = json.loads(line)
            turns, system = [], row.get("system")
            if "conversation" in row:
                turns = [(t["human"], t["assistant"]) for t in row["conversation"] if "human" in t and "assistant" in t]
            elif "messages" in row:
                pending = None
                for m in row["messages"]:
                    if m["role"] == "system":
                        system = m["content"]
                    elif m["role"] == "user":
                        pending = m["content"]
                    elif m["role"] == "assistant" and pending is not None:
                        turns.append((pending, m["content"]))
                        pending = None
            if turns:
                rows.append((system, turns))
    return rows


def conversations(sample_dir):
    """Named cases: (ms-swift row for ztune, transformers messages, tools)."""
    rows = sample_turns(sample_dir)
    flat = [turn for _, ts in rows for turn in ts]
    system = next(s for s, _ in rows if s)
    cases = {}

    def add(name, turns, system_text=None):
        messages = ([{"role": "system", "content": system_text}] if system_text else [])
        for user, assistant in turns:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        cases[name] = ({"messages": messages}, messages, None)

    add("2turn", flat[0:2])
    add("2turn_system", flat[2:4], system)
    add("8turn", flat[4:12])
    add("8turn_system", flat[12:20], system)
    # A tool call and its result, in ms-swift's agent format (tool_call content is JSON text, tools a JSON string).
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    swift_messages = [{"role": "user", "content": "What is the weather in Paris?"},
                      {"role": "tool_call", "content": json.dumps(call)},
                      {"role": "tool_response", "content": "{\"temperature\": 21}"},
                      {"role": "assistant", "content": "It is 21 degrees in Paris."}]
    hf_messages = [{"role": "user", "content": "What is the weather in Paris?"},
                   {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
                   {"role": "tool", "content": "{\"temperature\": 21}"},
                   {"role": "assistant", "content": "It is 21 degrees in Paris."}]
    cases["tools"] = ({"messages": swift_messages, "tools": json.dumps(TOOLS)}, hf_messages, TOOLS)
    return cases


def end_of_turn(tok, template):
    """What a reply adds after its own words in a one-turn probe, whitespace stripped."""
    try:
        probe = [{"role": "user", "content": "ping"}]
        prompt = tok.apply_chat_template(probe, chat_template=template, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(probe + [{"role": "assistant", "content": "pong"}], chat_template=template,
                                       tokenize=False)
    except Exception:  # noqa: BLE001
        return ""
    if not full.startswith(prompt) or full.find("pong", len(prompt)) < 0:
        return ""
    return full[full.find("pong", len(prompt)) + 4:].strip(" \t\n\r\x0b\x0c")


def marked_spans(tok, template, messages, tools, replies, text):
    """For templates that rewrite earlier turns: each reply's text marked with private-use characters, the reply
    running from where its generation prompt stops matching the conversation to its text's end plus the
    end-of-turn text. None when the marks cannot be followed."""
    marked = [dict(m) for m in messages]
    for k, index in enumerate(i for i, m in enumerate(messages) if m["role"] == "assistant"):
        if isinstance(marked[index].get("content"), str) and marked[index]["content"]:
            marked[index]["content"] = f"\ue000{k}\ue001" + marked[index]["content"] + f"\ue002{k}\ue001"
    rendered = tok.apply_chat_template(marked, chat_template=template, tools=tools, tokenize=False)
    plain, ends, i = [], {}, 0
    while i < len(rendered):
        if rendered[i] in "\ue000\ue002":
            close = rendered.index("\ue001", i)
            if rendered[i] == "\ue002":
                ends[int(rendered[i + 1:close])] = sum(len(p) for p in plain)
            i = close + 1
        else:
            plain.append(rendered[i])
            i += 1
    if "".join(plain) != text:
        return None
    eot = end_of_turn(tok, template)
    all_replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    spans = []
    for index in replies:
        k = all_replies.index(index)
        before = tok.apply_chat_template(messages[:index], chat_template=template, tools=tools, tokenize=False,
                                         add_generation_prompt=True)
        begin = 0
        while begin < len(before) and begin < len(text) and before[begin] == text[begin]:
            begin += 1
        if k not in ends and messages[index].get("tool_calls"):
            # A reply of tool calls only: as far as the conversation rendered through it agrees.
            through = tok.apply_chat_template(messages[:index + 1], chat_template=template, tools=tools,
                                              tokenize=False)
            end = begin
            while end < len(through) and end < len(text) and through[end] == text[end]:
                end += 1
            while end > begin and text[end - 1] in " \t\n\r\x0b\x0c":
                end -= 1
            spans.append((begin, end))
            continue
        if k not in ends or ends[k] < begin:
            return None
        end = ends[k] + (len(eot) if eot and text.startswith(eot, ends[k]) else 0)
        spans.append((begin, end))
    return spans


def reference(tok, template, messages, tools, loss_scale):
    """transformers' text, prompt text, ids and trained-token mask, or the error it raises."""
    kwargs = dict(chat_template=template, tools=tools)
    try:
        text = tok.apply_chat_template(messages, tokenize=False, **kwargs)
        prompt_messages = messages[:-1] if messages[-1]["role"] == "assistant" else messages
        prompt_text = tok.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True, **kwargs)
        generation = "generation" in template and "{%" in template and "endgeneration" in template
        encoded = tok.apply_chat_template(messages, tokenize=True, return_dict=True,
                                          return_assistant_tokens_mask=generation, **kwargs)
        prompt_ids = tok.apply_chat_template(prompt_messages, tokenize=True, return_dict=True,
                                             add_generation_prompt=True, **kwargs)["input_ids"]
    except Exception as error:  # noqa: BLE001 - any refusal of the template counts
        return {"error": f"{type(error).__name__}: {error}"}
    ids = list(encoded["input_ids"])
    if generation:
        mask = list(encoded["assistant_masks"])
        if loss_scale == "last_round":
            raise ValueError("last_round is checked on prefix-diff templates only")
    else:
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        assert list(offsets["input_ids"]) == ids
        mask = [0] * len(ids)
        replies = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
        if loss_scale == "last_round":
            replies = replies[-1:]
        spans = []
        for k in replies:
            before = tok.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True, **kwargs)
            through = tok.apply_chat_template(messages[:k + 1], tokenize=False, **kwargs)
            if not (through.startswith(before) and text.startswith(through)):
                spans = marked_spans(tok, template, messages, tools, replies, text)
                if spans is None:
                    return {"unstable": True, "text": text}
                break
            spans.append((len(before), len(through.rstrip(" \t\n\r\x0b\x0c"))))
        for begin, end in spans:
            if end <= begin:
                continue
            for i in range(offsets.char_to_token(begin), offsets.char_to_token(end - 1) + 1):
                mask[i] = 1
    return {"text": text, "prompt_text": prompt_text, "input_ids": ids, "prompt_ids": list(prompt_ids), "mask": mask}


def main():
    binary, fixture, template_dir, sample_dir, work = sys.argv[1:6]
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tok_dir = work / "tokenizer"
    tok = AutoTokenizer.from_pretrained(fixture)
    tok.add_special_tokens({"additional_special_tokens": MARKERS})
    tok.chat_template = None
    tok.save_pretrained(tok_dir)
    for stray in ["chat_template.jinja", "chat_template.json"]:
        if (tok_dir / stray).exists():
            os.remove(tok_dir / stray)
    tok = AutoTokenizer.from_pretrained(tok_dir)

    templates = sorted(Path(template_dir).glob("*.jinja"))
    assert len(templates) >= 30, f"only {len(templates)} templates in {template_dir}"
    cases = conversations(sample_dir)
    requests, expected = [], []
    for path in templates:
        source = path.read_text(encoding="utf-8")
        generation = "endgeneration" in source
        for name, (row, messages, tools) in cases.items():
            for loss_scale in (["default"] if generation else ["default", "last_round"]):
                requests.append({"template": str(path), "row": row, "loss_scale": loss_scale})
                expected.append((path.name, name, loss_scale,
                                 reference(tok, source, messages, tools, loss_scale)))
    request_file = work / "requests.jsonl"
    with open(request_file, "w", encoding="utf-8") as out:
        for request in requests:
            out.write(json.dumps(request, ensure_ascii=False) + "\n")
    answer_file = work / "answers.jsonl"
    subprocess.run([binary, str(tok_dir), str(request_file), str(answer_file)], check=True)
    answers = [json.loads(line) for line in open(answer_file, encoding="utf-8")]
    assert len(answers) == len(requests)

    failures, rendered, refused, unstable = [], set(), 0, 0
    generation_checked = set()
    for (template, case, loss_scale, ref), ours in zip(expected, answers):
        where = f"{template} / {case} / {loss_scale}"
        if "error" in ref:
            refused += 1
            if "error" not in ours:
                failures.append(f"{where}: transformers refuses ({ref['error'][:120]}) but ztune renders")
            continue
        if "error" in ours:
            if ref.get("unstable") and "cannot tell which tokens" in ours["error"]:
                unstable += 1  # both see the template rewrite earlier turns; ztune says so
                continue
            failures.append(f"{where}: ztune fails: {ours['error'][:300]}")
            continue
        if ref.get("unstable"):
            failures.append(f"{where}: the template rewrites earlier turns but ztune labelled it without saying so")
            continue
        for key in ["text", "prompt_text", "input_ids", "prompt_ids"]:
            if ours[key] != ref[key]:
                detail = ""
                if isinstance(ref[key], str):
                    i = next((i for i, (a, b) in enumerate(zip(ours[key], ref[key])) if a != b),
                             min(len(ours[key]), len(ref[key])))
                    detail = f" at {i}: ztune {ours[key][max(0, i - 40):i + 40]!r} vs {ref[key][max(0, i - 40):i + 40]!r}"
                failures.append(f"{where}: {key} differs{detail}")
                break
        else:
            trained = [1 if label != -100 else 0 for label in ours["labels"]]
            mask = list(ref["mask"])
            if trained[1:] != mask[1:]:
                diff = [i for i, (a, b) in enumerate(zip(trained, mask)) if a != b]
                failures.append(f"{where}: trained tokens differ at {diff[:10]} of {len(mask)}")
            else:
                rendered.add(template)
                if "endgeneration" in Path(template_dir, template).read_text(encoding="utf-8"):
                    generation_checked.add(template)

    print(f"{len(templates)} templates x {len(cases)} conversations: {len(rendered)} templates render, tokenize and "
          f"label as transformers; {refused} cases refused by both; {unstable} cases of templates that rewrite "
          f"earlier turns in ways neither can follow (ztune asks for {{% generation %}} blocks); {len(generation_checked)} templates checked "
          f"against transformers' assistant masks")
    for line in failures[:40]:
        print("FAIL", line)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    if len(rendered) < 30:
        print(f"only {len(rendered)} templates fully checked; at least 30 must be")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
