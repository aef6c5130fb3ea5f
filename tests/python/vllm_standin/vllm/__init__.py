"""A stand-in for vLLM's offline API (vllm.LLM, vllm.SamplingParams, vllm.lora.request.LoRARequest) for machines
where vLLM cannot run (its wheels need a CUDA GPU). It takes the same arguments vLLM 0.11-0.13 takes, refusing
any other as vLLM does, and generates greedily with transformers (and peft for a LoRA request), so that a test can
check what `ztune infer --infer_backend vllm` hands over: the model folder, the engine arguments, the prompt token
ids and sampling parameters. Every call is appended to $VLLM_STANDIN_LOG as a JSON line.

Like vLLM, importing it writes log lines to stdout, which the bridge must keep off its protocol channel.
"""
import dataclasses
import json
import os
import sys

__version__ = "0.0.0+ztune-standin"
print("INFO vllm stand-in imported (vLLM logs to stdout too)")

# EngineArgs fields the stand-in accepts (a subset of vLLM's; each one exists there under this name).
ENGINE_ARGS = {"model", "tokenizer", "skip_tokenizer_init", "dtype", "seed", "gpu_memory_utilization",
               "tensor_parallel_size", "max_num_seqs", "enforce_eager", "disable_custom_all_reduce", "max_model_len",
               "enable_prefix_caching", "enable_lora", "max_lora_rank", "max_loras", "swap_space", "trust_remote_code",
               "quantization", "pipeline_parallel_size", "kv_cache_dtype"}


def _log(event, **fields):
    path = os.environ.get("VLLM_STANDIN_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"event": event, **fields}) + "\n")


@dataclasses.dataclass
class SamplingParams:
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    seed: int = None
    stop: list = None
    stop_token_ids: list = None
    ignore_eos: bool = False
    max_tokens: int = 16
    min_tokens: int = 0
    logprobs: int = None
    detokenize: bool = True
    skip_special_tokens: bool = True


@dataclasses.dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list
    finish_reason: str


@dataclasses.dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list
    outputs: list
    finished: bool = True


class LLM:
    def __init__(self, model, **kwargs):
        unknown = set(kwargs) - ENGINE_ARGS
        if unknown:
            raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        import torch
        from transformers import AutoModelForCausalLM
        _log("init", model=model, **kwargs)
        dtype = kwargs.get("dtype", "auto")
        self._base = AutoModelForCausalLM.from_pretrained(
            model, dtype="auto" if dtype == "auto" else getattr(torch, dtype)).eval()
        self._enable_lora = kwargs.get("enable_lora", False)
        self._max_lora_rank = kwargs.get("max_lora_rank", 16)
        self._adapters = {}

    def _model_for(self, lora_request):
        if lora_request is None:
            return self._base
        if not self._enable_lora:
            raise ValueError("LoRA is not enabled! Set `enable_lora=True` when creating the LLM")
        if lora_request.lora_int_id not in self._adapters:
            from peft import PeftConfig, PeftModel
            rank = PeftConfig.from_pretrained(lora_request.lora_path).r
            if rank > self._max_lora_rank:
                raise ValueError(f"LoRA rank {rank} is greater than max_lora_rank {self._max_lora_rank}")
            self._adapters[lora_request.lora_int_id] = PeftModel.from_pretrained(self._base, lora_request.lora_path).eval()
        return self._adapters[lora_request.lora_int_id]

    def generate(self, prompts, sampling_params=None, use_tqdm=True, lora_request=None):
        import torch
        params = sampling_params or SamplingParams()
        if params.temperature != 0:
            raise NotImplementedError("the stand-in generates greedily only (temperature=0)")
        _log("generate", prompts=prompts, sampling=dataclasses.asdict(params),
             lora=None if lora_request is None else dataclasses.asdict(lora_request))
        model = self._model_for(lora_request)
        stops = set(params.stop_token_ids or [])
        results = []
        for index, prompt in enumerate(prompts):
            ids = list(prompt["prompt_token_ids"])
            new = []
            with torch.no_grad():
                for _ in range(params.max_tokens):
                    logits = model(input_ids=torch.tensor([ids + new])).logits[0, -1].float()
                    if params.repetition_penalty != 1.0:  # over prompt and output tokens, as vLLM applies it
                        seen = torch.tensor(sorted(set(ids + new)))
                        picked = logits[seen]
                        logits[seen] = torch.where(picked > 0, picked / params.repetition_penalty,
                                                   picked * params.repetition_penalty)
                    token = int(torch.argmax(logits))
                    new.append(token)
                    if token in stops:
                        break
            finish = "stop" if new and new[-1] in stops else "length"
            results.append(RequestOutput(str(index), ids, [CompletionOutput(0, "", new, finish)]))
        return results
