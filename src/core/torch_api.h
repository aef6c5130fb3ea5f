// The part of libtorch ztune uses: ATen's tensors and operators, and autograd's custom functions and hooks. Not
// <torch/torch.h>: its C++ frontend (nn, optim, data, serialize, jit) is code ztune never calls, and it made the
// precompiled header every translation unit loads 890 MB (12 s per file on 2 cores) instead of about 590 MB (5 s).
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
