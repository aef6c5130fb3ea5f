// The ms-swift flags ztune knows but does not implement, per command, each with the reason it is refused (any
// value but ms-swift's default stops the command) or ignored (accepted with any value).
#pragma once

#include "core/args.h"

namespace zt::cli {

void add_shared_swift_flags(args::Table& table);  // multimodal and other tasks, model loading, launching
void add_sft_swift_flags(args::Table& table);     // sft's (and rlhf's) Trainer knobs, data, saving, tuners, ...
void add_infer_swift_flags(args::Table& table);
void add_export_swift_flags(args::Table& table);

}  // namespace zt::cli
