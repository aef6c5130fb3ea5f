#!/usr/bin/env python3
"""`ztune export --to_gguf f16|bf16|q8_0` of mixture-of-experts models: llama.cpp's qwen3moe and qwen2moe.

usage: check_gguf_moe.py ZTUNE [FIXTURES_DIR [WORK_DIR [DATASET]]]

The folders are written here by transformers' save_pretrained at a fixed seed, as a user's would be: the
qwen3-moe and qwen2-moe fixtures' configs with experts in every layer (llama.cpp's architectures have no dense
layers; the fixtures have one), named as hub repos are named (Qwen3-MoE-Tiny, Qwen1.5-MoE-Tiny), with the
fixtures' tokenizer and generation config. Also:
  stacked   Qwen3-MoE-Tiny with its experts saved fused, as transformers holds them in memory
            (experts.gate_up_proj [E, 2I, H], experts.down_proj [E, H, I]);
  merged    a LoRA checkpoint of two `ztune sft` steps on Qwen3-MoE-Tiny adapting q_proj and the expert projections
            (PEFT target_parameters), exported with --merge_lora true --to_gguf.
Each file is read with the `gguf` package's GGUFReader and checked:
 (a) GGUF v3, alignment 32;
 (b) the metadata convert_hf_to_gguf.py writes (check_gguf_export.expected_metadata) plus its MoE keys:
     expert_count, expert_used_count (TextModel), expert_feed_forward_length and expert_shared_feed_forward_length
     (Qwen2MoeModel, where config.json has the key), and the size label gguf.size_label gives for experts
     ("8x..."); no key missing, none extra;
 (c) every tensor under the name the `gguf` package's TensorNameMap gives for the architecture, the experts of a
     layer stacked into one [E, rows, cols] tensor per projection as Qwen2MoeModel.modify_tensors stacks them, the
     routers (ffn_gate_inp, ffn_gate_inp_shexp) F32, the bytes equal to gguf.quants.quantize of those values;
     the stacked folder's file holds the same bytes as the per-expert folder's;
 (d) llama.cpp (llama-cpp-python) loads each file; its logits match transformers' on the folder within the type's
     rounding (check_gguf_export's tolerances) and, for f16, its greedy tokens equal transformers' up to the first
     near-tie (check_gguf_export.check_llama_cpp);
 (e) wrong uses exit 2 with a message: a model with a dense layer (mlp_only_layers, decoder_sparse_step 2: the
     fixtures themselves), norm_topk_prob other than the architecture's, a missing expert, Qwen2-MoE without
     lm_head.weight, and --from_gguf of a MoE file (ztune imports dense architectures only).
Prints a summary table; exits 1 on any failure.
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_gguf_export as export  # noqa: E402  (metadata, tolerances, llama.cpp checks, failure checks)

gguf = export.gguf
Q, V = export.Q, export.V
ARCHES = {"Qwen3MoeForCausalLM": gguf.MODEL_ARCH.QWEN3MOE, "Qwen2MoeForCausalLM": gguf.MODEL_ARCH.QWEN2MOE}
ALWAYS_F32 = (gguf.MODEL_TENSOR.FFN_GATE_INP, gguf.MODEL_TENSOR.FFN_GATE_INP_SHEXP)


def make_folder(fixture, out, change):
    """The fixture's config changed by `change`, a model of it at seed 0 saved by save_pretrained, its tokenizer."""
    import transformers
    config = transformers.AutoConfig.from_pretrained(fixture)
    for key, value in change.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).to(torch.float32).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            # As the fixtures: a router that routes decisively, random attention biases where the family has them.
            layer.mlp.gate.weight.normal_(0.0, 0.3)
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                if proj.bias is not None:
                    proj.bias.normal_(0.0, 0.02)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(str(out))
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(Path(fixture) / name, out / name)
    return out


def make_stacked(folder, out):
    """`folder` with each layer's experts saved fused, as transformers holds them in memory."""
    shutil.copytree(folder, out)
    weights = {}
    for path in sorted(out.glob("*.safetensors")):
        weights.update(load_numpy(str(path)))
        path.unlink()
    (out / "model.safetensors.index.json").unlink(missing_ok=True)
    hp = json.loads((folder / "config.json").read_text())
    fused = {}
    for layer in range(hp["num_hidden_layers"]):
        prefix = f"model.layers.{layer}.mlp.experts."
        experts = range(hp.get("num_experts") or hp["num_local_experts"])
        gate_up = [np.concatenate([weights.pop(f"{prefix}{e}.gate_proj.weight"), weights.pop(f"{prefix}{e}.up_proj.weight")])
                   for e in experts]
        fused[prefix + "gate_up_proj"] = np.stack(gate_up)
        fused[prefix + "down_proj"] = np.stack([weights.pop(f"{prefix}{e}.down_proj.weight") for e in experts])
    weights.update(fused)
    save_numpy(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def expected_tensors(model_dir, hp, out_type):
    """GGUF name -> (type, values, quantize() bytes), the experts stacked as convert_hf_to_gguf.py stacks them."""
    weights = export.gguf_import.read_weights(model_dir)
    name_map = gguf.get_tensor_name_map(ARCHES[hp["architectures"][0]], hp["num_hidden_layers"])
    stacked = {}
    for name in sorted(weights):
        parts = name.split(".")
        if ".mlp.experts." in name and parts[5].isdigit():  # model.layers.L.mlp.experts.E.<proj>.weight
            stacked.setdefault(f"model.layers.{parts[2]}.mlp.experts.{parts[6]}.weight", {})[int(parts[5])] = weights[name]
            continue
        if name.endswith("experts.gate_up_proj"):
            half = weights[name].shape[1] // 2
            base = name[:-len("gate_up_proj")]
            stacked[base + "gate_proj.weight"] = dict(enumerate(weights[name][:, :half]))
            stacked[base + "up_proj.weight"] = dict(enumerate(weights[name][:, half:]))
            continue
        if name.endswith("experts.down_proj"):
            stacked[name + ".weight"] = dict(enumerate(weights[name]))
            continue
        stacked[name] = weights[name]
    out = {}
    for name, value in stacked.items():
        if isinstance(value, dict):
            value = np.stack([value[e] for e in range(len(value))])
        values = np.ascontiguousarray(value.astype(np.float32))
        gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            export.fail(f"{model_dir}: the gguf package has no {ARCHES[hp['architectures'][0]].name} name for {name}")
            continue
        layer = int(name.split(".")[2]) if name.startswith("model.layers.") else None
        router = any(gguf_name == gguf.TENSOR_NAMES[key].format(bid=layer) + ".weight" for key in ALWAYS_F32)
        if values.ndim <= 1 or gguf_name.endswith("_norm.weight") or not gguf_name.endswith(".weight") or router:
            qtype = Q.F32
        elif export.TYPES[out_type] == Q.Q8_0 and values.shape[-1] % 32 != 0:
            qtype = Q.F16
        else:
            qtype = export.TYPES[out_type]
        out[gguf_name] = (qtype, values, gguf.quants.quantize(values, qtype))
    return out


def expected_metadata(model_dir, out_type, reader):
    """check_gguf_export's keys for the folder, with the MoE keys and the experts' size label."""
    total = shared = expert = 0
    experts = []
    for tensor in reader.tensors:
        size = int(np.prod(tensor.shape))
        total += size
        if "_exps." in tensor.name and len(tensor.shape) >= 3:
            count = int(tensor.shape[-1])  # GGUF lists dimensions innermost first: [cols, rows, experts]
            expert += size // count
            experts.append(count)
        else:
            shared += size
    out, hp = export.expected_metadata(model_dir, out_type, total)
    a = export.ARCHITECTURES[hp["architectures"][0]] + "."
    meta = gguf.Metadata.load(None, Path(model_dir), None, total)
    out["general.size_label"] = (V.STRING, meta.size_label or gguf.size_label(total, shared, expert,
                                                                              sum(experts) // len(experts)))
    # TextModel.find_hparam(["num_local_experts", "num_experts", "n_routed_experts"])
    out[a + "expert_count"] = (V.UINT32, next(hp[k] for k in ("num_local_experts", "num_experts") if hp.get(k)))
    out[a + "expert_used_count"] = (V.UINT32, hp["num_experts_per_tok"])
    if hp.get("moe_intermediate_size") is not None:
        out[a + "expert_feed_forward_length"] = (V.UINT32, hp["moe_intermediate_size"])
    if hp.get("shared_expert_intermediate_size") is not None:
        out[a + "expert_shared_feed_forward_length"] = (V.UINT32, hp["shared_expert_intermediate_size"])
    return out, hp


def export_gguf(ztune, args, path, label):
    result = export.run([ztune, "export", *args])
    if result.returncode != 0 or not path.is_file():
        export.fail(f"{label}: export exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
        return None
    return path


def edited_folder(source, out, config_change=None, drop=None):
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out)
    if config_change:
        config = json.loads((out / "config.json").read_text())
        config.update(config_change)
        (out / "config.json").write_text(json.dumps(config))
    if drop:
        for path in out.glob("*.safetensors"):
            weights = load_numpy(str(path))
            if any(name in weights for name in drop):
                save_numpy({k: v for k, v in weights.items() if k not in drop}, str(path), metadata={"format": "pt"})
    return out


def main():
    ztune, fixtures, work, dataset, llama_cpp = export.arguments(__doc__, "ztune-gguf-moe-")

    qwen3 = make_folder(fixtures / "qwen3-moe", work / "Qwen3-MoE-Tiny", {"mlp_only_layers": []})
    qwen2 = make_folder(fixtures / "qwen2-moe", work / "Qwen1.5-MoE-Tiny", {"decoder_sparse_step": 1})
    stacked = make_stacked(qwen3, work / "Qwen3-MoE-Tiny-stacked")

    jobs = []  # (label, folder, type, gguf path)
    for folder in (qwen3, qwen2):
        for out_type in export.TYPES:
            out = work / f"{folder.name}-{out_type}"
            path = export_gguf(ztune, ["--model", folder, "--to_gguf", out_type, "--output_dir", out],
                               out / f"{folder.name}-{out_type.upper()}.gguf", f"{folder.name} {out_type}")
            if path:
                jobs.append((f"{folder.name}-{out_type}", folder, out_type, path))
    stacked_path = export_gguf(ztune, ["--model", stacked, "--to_gguf", "f16", "--output_dir", work / "stacked-f16"],
                               work / "stacked-f16" / f"{stacked.name}-F16.gguf", "stacked f16")

    train = work / "train"
    result = export.run([ztune, "sft", "--model", qwen3, "--dataset", dataset, "--max_steps", "2",
                         "--target_modules", "q_proj", "gate_proj", "up_proj", "down_proj", "--lora_dropout", "0",
                         "--learning_rate", "1e-3", "--output_dir", train, "--add_version", "false", "--save_steps", "2"])
    checkpoint = train / "checkpoint-2"
    if result.returncode != 0 or not checkpoint.is_dir():
        export.fail(f"sft exited {result.returncode}: {(result.stdout + result.stderr).strip()[-600:]}")
    else:
        merged = work / "merged-f16"
        path = export_gguf(ztune, ["--adapters", checkpoint, "--merge_lora", "true", "--to_gguf", "f16",
                                   "--output_dir", merged], merged / "merged-f16-F16.gguf", "merged f16")
        if path:
            jobs.append(("merged-f16", merged, "f16", path))

    readers = {}
    for label, model_dir, out_type, path in jobs:
        reader = gguf.GGUFReader(str(path))
        readers[label] = reader
        version = int(reader.fields["GGUF.version"].contents())
        if version != 3 or reader.alignment != 32:
            export.fail(f"{label}: GGUF version {version}, alignment {reader.alignment}; expected 3 and 32")
        expected, hp = expected_metadata(model_dir, out_type, reader)
        keys_same, keys = export.check_metadata(label, reader, expected, "qwen2")
        exact, count = export.check_tensors(label, reader, expected_tensors(model_dir, hp, out_type))
        llama_result, greedy = "-", "-"
        if llama_cpp is not None:
            llama_result, greedy = export.check_llama_cpp(label, llama_cpp, path, model_dir, out_type,
                                                          export.token_cases(model_dir, "gpt2", dataset.parent))
        export.summary.append((label, out_type, f"{keys_same}/{keys} keys", f"{exact}/{count} tensors", "-",
                               llama_result, greedy))

    # The fused layout gives the same file tensors as the per-expert one.
    per_expert = readers.get(f"{qwen3.name}-f16")
    if stacked_path and per_expert is not None:
        mine = {t.name: (t.tensor_type, np.asarray(t.data).tobytes()) for t in gguf.GGUFReader(str(stacked_path)).tensors}
        theirs = {t.name: (t.tensor_type, np.asarray(t.data).tobytes()) for t in per_expert.tensors}
        same = sum(mine.get(name) == value for name, value in theirs.items())
        if same != len(theirs) or len(mine) != len(theirs):
            export.fail(f"stacked: {same} of {len(theirs)} tensors equal the per-expert folder's ({len(mine)} written)")
        export.summary.append(("stacked-f16", "f16", "-", f"{same}/{len(theirs)} = per-expert", "-", "-", "-"))

    # Wrong uses: each a clear error before anything is written.
    out = ["--to_gguf", "f16", "--output_dir"]
    export.check_failure("qwen3moe with a dense layer", [ztune, "export", "--model", fixtures / "qwen3-moe", *out,
                                                         work / "bad-dense3"], "mlp_only_layers")
    export.check_failure("qwen2moe sparse every 2nd layer", [ztune, "export", "--model", fixtures / "qwen2-moe", *out,
                                                             work / "bad-dense2"], "decoder_sparse_step 2")
    flipped = edited_folder(qwen3, work / "bad-norm-topk", {"norm_topk_prob": False})
    export.check_failure("qwen3moe norm_topk_prob false", [ztune, "export", "--model", flipped, *out, flipped / "out"],
                         "norm_topk_prob is false")
    missing = "model.layers.1.mlp.experts.5.up_proj.weight"
    gap = edited_folder(qwen3, work / "bad-missing-expert", drop={missing})
    export.check_failure("a missing expert", [ztune, "export", "--model", gap, *out, gap / "out"], missing)
    tied = edited_folder(qwen2, work / "bad-tied", {"tie_word_embeddings": True}, drop={"lm_head.weight"})
    export.check_failure("qwen2moe without lm_head", [ztune, "export", "--model", tied, *out, tied / "out"],
                         "lm_head.weight")
    if per_expert is not None:
        export.check_failure("--from_gguf of qwen3moe", [ztune, "export", "--from_gguf",
                                                         work / f"{qwen3.name}-f16" / f"{qwen3.name}-F16.gguf",
                                                         "--output_dir", work / "bad-import"], "qwen3moe")

    export.report()


if __name__ == "__main__":
    main()
