#!/usr/bin/env python3
"""Writes configs/ms_swift/sft_args.json: every key ms-swift's own `swift sft` writes to args.json, with the
values ms-swift gives them when a flag is not passed, for ztune to start its args.json from (issue 18).

usage: python scripts/ms_swift_args_template.py MODEL_DIR DATASET OUT_JSON

Builds ms-swift's SftArguments (the version in .venv, pinned in requirements.txt) on a model folder the way
`swift sft --model MODEL_DIR --dataset DATASET --model_type qwen2 --template qwen2_5` would, without training,
and dumps `args.__dict__` as ms-swift's save_args does. Values that belong to one run (paths, the model's
type, template and dtype, repr strings of ms-swift's internal objects) are written as null: ztune fills
them from its own run. Run it again when the pinned ms-swift changes; the test
tests/python/check_swift_interchange.py fails when the key sets differ.
"""
import json
import sys
import tempfile

# Filled by ztune for each run, or repr() strings of ms-swift objects that mean nothing outside its process.
PER_RUN = {
    "output_dir", "logging_dir", "run_name", "model", "model_dir", "model_type", "model_suffix", "template",
    "torch_dtype", "max_length", "dataset", "val_dataset", "model_info", "model_meta", "template_meta",
    "training_args", "hub", "swift_version", "rank", "local_rank", "global_world_size", "local_world_size",
    "ckpt_dir", "_val_dataset_exists", "report_to", "seed", "data_seed",
}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, dataset, out = sys.argv[1:]
    import swift
    from swift.arguments import SftArguments
    from swift.utils import check_json_format
    with tempfile.TemporaryDirectory() as work:
        args = SftArguments(model=model, dataset=[dataset], output_dir=work, model_type="qwen2", template="qwen2_5",
                            report_to=["none"])
        values = check_json_format(args.__dict__)
    template = {key: (None if key in PER_RUN else value) for key, value in values.items()}
    template["swift_version"] = swift.__version__
    with open(out, "w", encoding="utf-8") as f:
        json.dump(template, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(template)} keys of ms-swift {swift.__version__}")


if __name__ == "__main__":
    main()
