"""vllm.lora.request.LoRARequest, as the stand-in needs it."""
import dataclasses


@dataclasses.dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""
