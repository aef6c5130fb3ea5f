// `ztune export --to_peft`: a checkpoint's consolidated LoRA weights as a PEFT adapter folder.
#pragma once

#include <string>

namespace zt::exporting {

// Writes the consolidated LoRA adapter of `checkpoint_dir` as a PEFT folder `out_dir`. The adapter
// configuration comes from the checkpoint's adapter_config.json, else from its args.json.
void export_peft_adapter(const std::string& checkpoint_dir, const std::string& out_dir);

}  // namespace zt::exporting
