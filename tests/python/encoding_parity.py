#!/usr/bin/env python3
"""Encoding parity: ztune's data pipeline against ms-swift's own template encoding.

usage: encoding_parity.py TOOL MODEL_DIR MODEL_TYPE WORK_DIR --templates T [T ...] FILE [FILE ...]

For every file, template and loss_scale (default, last_round, all), ms-swift loads the file
(swift.dataset.load_dataset, its AutoPreprocessor) and encodes each row (swift.template, train mode);
ztune_encode_dataset (TOOL, one process for all of them) does the same. Required:
  - packing off: the same rows in the same order with identical input_ids and labels;
  - packing on: every packed row is the concatenation of the referenced rows' ms-swift encodings, with
    position ids restarting at 0 per sample, cu_seqlens at the sample boundaries, each sample's first
    label -100, no row longer than packing_length, and every row used exactly once.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
logging.disable(logging.WARNING)


_PROCESSORS, _DATASETS = {}, {}


def swift_reference(model_dir, model_type, template_type, loss_scale, path, max_length):
    from swift import get_processor, get_template
    from swift.dataset import load_dataset

    # Loading the processor and the dataset dominates; both are reused across templates and loss scales.
    if (model_dir, model_type) not in _PROCESSORS:
        _PROCESSORS[(model_dir, model_type)] = get_processor(model_dir, model_type=model_type)
    processor = _PROCESSORS[(model_dir, model_type)]
    template = get_template(processor, template_type=template_type, loss_scale=loss_scale, max_length=max_length,
                            truncation_strategy="delete")
    template.set_mode("train")
    if path not in _DATASETS:
        _DATASETS[path] = load_dataset([path], split_dataset_ratio=0, num_proc=1, load_from_cache_file=False)[0]
    rows = []
    for row in _DATASETS[path]:
        row = {k: v for k, v in row.items() if v is not None and k in ("messages",)}
        # ms-swift 4.6 leaves the literal "{{SYSTEM}}\n\n" in mistral_nemo's last query when a conversation has no
        # system; ztune writes the plain prompt (docs/TEMPLATES.md). The reference for such rows is ms-swift's own
        # encoding with the post-system prompt switched off, which is exactly that.
        meta = template.template_meta
        post_system = meta.is_post_system
        if post_system and not any(m["role"] == "system" for m in row["messages"]):
            meta.is_post_system = False
        try:
            encoded = template.encode(row)
        finally:
            meta.is_post_system = post_system
        rows.append((encoded["input_ids"], encoded["labels"]))
    return rows


def run_tool(tool, model_dir, jobs, work):
    """Runs every job ({template, loss_scale, max_length, packing_length, out, files}) in one tool process (the
    tokenizer loads once) and returns each job's (rows, summary)."""
    jobs_file = Path(work) / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    subprocess.run([tool, model_dir, "--jobs", str(jobs_file)], check=True, stdout=subprocess.DEVNULL)
    results = []
    for job in jobs:
        lines = [json.loads(line) for line in Path(job["out"]).read_text().splitlines()]
        results.append((lines[:-1], lines[-1]))
    return results


def check(tool, model_dir, model_type, work, files, templates, max_length=512, packing_length=512, report=print):
    """Compares every file x template x loss scale; returns (rows compared, failures)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    cases = [(path, template_type, loss_scale) for path in files for template_type in templates
             for loss_scale in ("default", "last_round", "all")]
    jobs = []
    for number, (path, template_type, loss_scale) in enumerate(cases):
        for kind, packing in (("plain", 0), ("packed", packing_length)):
            jobs.append({"template": template_type, "loss_scale": loss_scale, "max_length": max_length,
                         "packing_length": packing, "out": str(work / f"{number}-{kind}.jsonl"), "files": [path]})
    results = run_tool(tool, model_dir, jobs, work)

    failures = []
    checked = 0
    for number, (path, template_type, loss_scale) in enumerate(cases):
        label = f"{Path(path).name} {template_type} {loss_scale}"
        reference = swift_reference(model_dir, model_type, template_type, loss_scale, path, max_length)
        (ours, summary), (packed, packed_summary) = results[2 * number], results[2 * number + 1]
        if len(ours) != len(reference):
            failures.append(f"{label}: ztune produced {len(ours)} rows, ms-swift {len(reference)} "
                            f"({summary['summary']})")
            continue
        for i, (row, (ids, labels)) in enumerate(zip(ours, reference)):
            if row["input_ids"] != ids or row["labels"] != labels:
                where = row["sources"][0]
                failures.append(f"{label}: row {i} ({where[0]}:{where[1]}) differs\n  ztune ids {row['input_ids'][:24]}"
                                f"\n  swift ids {ids[:24]}\n  ztune labels {row['labels'][:40]}\n"
                                f"  swift labels {labels[:40]}")
                break
        checked += len(ours)

        by_source = {tuple(row["sources"][0]): (row["input_ids"], row["labels"]) for row in ours}
        used = []
        for row in packed:
            expected_ids, expected_labels, positions, bounds = [], [], [], [0]
            for source in row["sources"]:
                ids, labels = by_source[tuple(source)]
                expected_ids += ids
                expected_labels += [-100] + labels[1:]
                positions += list(range(len(ids)))
                bounds.append(bounds[-1] + len(ids))
                used.append(tuple(source))
            if (row["input_ids"] != expected_ids or row["labels"] != expected_labels
                    or row["position_ids"] != positions or row["cu_seqlens"] != bounds
                    or len(row["input_ids"]) > packing_length):
                failures.append(f"{label}: packed row with {row['sources'][:3]} is not the concatenation")
                break
        if sorted(used) != sorted(by_source):
            failures.append(f"{label}: packing used {len(used)} samples, expected each of {len(by_source)} once")
        report(f"{label}: {len(ours)} rows equal to ms-swift; packed into {len(packed)} rows, "
               f"fill {packed_summary.get('fill_ratio', 0):.3f}")
    return checked, failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("model_dir")
    parser.add_argument("model_type")
    parser.add_argument("work")
    parser.add_argument("--templates", nargs="+", required=True)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--packing-length", type=int, default=512)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    checked, failures = check(args.tool, args.model_dir, args.model_type, args.work, args.files, args.templates,
                              args.max_length, args.packing_length)
    for failure in failures[:10]:
        print("FAIL:", failure)
    print(f"{checked} rows compared, {len(failures)} failures")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
