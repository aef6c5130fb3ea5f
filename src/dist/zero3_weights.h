// ZeRO stage 3 for the frozen weights: the large tensors of each decoder layer form one flat buffer per
// layer, padded to a multiple of the world size and split evenly. A rank reads only its slice from the
// safetensors files (through the mmap, never the whole tensor); before a layer runs, its buffer is
// all-gathered and the layer's weights become views of it, and after the layer ran they are dropped (the
// autograd graph keeps what backward needs until backward is done with it). With gradient checkpointing
// every layer is gathered twice per step, for its forward and for its recompute in backward, and the next
// layer in the direction of travel is prefetched while the current one computes. Tensors smaller than
// the persistence threshold (norms, biases) stay resident on every rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dist/comm.h"

namespace zt::st {
class Checkpoint;
}

namespace zt::dist {

class ZeroEngine;

// The decoder layer a weight or trainable parameter belongs to by its name, -1 outside the layers.
using LayerOf = std::function<int64_t(const std::string&)>;

// A weight the folder stores in pieces (a mixture of experts' stacked experts, stored one matrix per expert and
// part): its slot name and shape, and the file tensors that fill it, in the slot's memory order.
struct StoredSlot {
  std::string slot;
  std::vector<int64_t> shape;
  std::vector<std::string> pieces;
};
// The slot a file tensor is a piece of, or nullptr when the tensor is a slot of its own name.
using StoredIn = std::function<const StoredSlot*(const std::string& file_name)>;

// What stage 3 needs of the model, and no more (dist/ never sees model/; train/ adapts the decoder).
struct LayeredModel {
  int64_t num_layers = 0;
  LayerOf layer_of;
  // The tensor slot holding a decoder-layer weight by its Hugging Face name (model.layers.N....).
  std::function<at::Tensor*(const std::string&)> weight_slot;
  // Installs the calls the model makes before a layer runs (forward, or its recompute in backward when
  // `backward` is true) and after it ran; empty functions remove them.
  using Acquire = std::function<void(size_t layer, bool backward)>;
  using Release = std::function<void(size_t layer)>;
  std::function<void(Acquire, Release)> set_layer_hooks;
  StoredIn stored_in;  // unset: every file tensor is a slot of its own name
  // Slots the model keeps whole on this rank whatever their size (expert parallelism's own experts).
  std::function<bool(const std::string& slot)> kept_whole;
};

class LayerWeightPartition {
 public:
  // What the model should load whole (the decoder's ModelOptions::keep_weight); the rest is partitioned.
  static std::function<bool(const std::string&)> resident_predicate(const LayerOf& layer_of, const std::string& model_dir,
                                                                    int64_t persistence_threshold);
  // With `stored_in`, a slot stored in pieces is judged by its whole size, under its slot name.
  static std::function<bool(const std::string&)> resident_predicate(const LayerOf& layer_of,
                                                                    const st::Checkpoint& weights,
                                                                    int64_t persistence_threshold,
                                                                    const StoredIn& stored_in = {});

  // Loads this rank's slices and installs the model's layer hooks. The model must have been loaded with
  // resident_predicate(model.layer_of, model_dir, persistence_threshold) and must outlive this object.
  LayerWeightPartition(Communicator& comm, LayeredModel model, const std::string& model_dir,
                       int64_t persistence_threshold, at::ScalarType dtype, at::Device device);
  // The same from the folder's weights already opened (`where` names the folder in errors).
  LayerWeightPartition(Communicator& comm, LayeredModel model, const st::Checkpoint& weights, const std::string& where,
                       int64_t persistence_threshold, at::ScalarType dtype, at::Device device);
  ~LayerWeightPartition();
  LayerWeightPartition(const LayerWeightPartition&) = delete;
  LayerWeightPartition& operator=(const LayerWeightPartition&) = delete;

  // Stage 3 for the trainable parameters too: each layer's LoRA (or other trainable) tensors are gathered
  // with the layer from the engine's fp32 master partitions, and emptied when no longer needed (at once
  // after a forward without autograd, else once backward is through, at the end of after_backward()).
  // Every trainable parameter must belong to a decoder layer. The engine must be stage 3 and outlive this;
  // once this is destroyed the engine's parameters stay empty (gather_full_parameters() still works).
  void attach_trainables(ZeroEngine& engine);

  // Every rank must take part in every gather. A rank without data for a micro-batch calls this instead
  // of running the model: the same gathers in the same order, forward and (with gradient checkpointing,
  // `recompute`) backward, without computing anything.
  void replay_without_data(bool recompute);

  int64_t partitioned_numel() const;   // elements of all layers' buffers, unpadded
  int64_t padded_numel() const;        // the same, padded: what the gathers move
  int64_t owned_bytes() const;         // this rank's slices
  int64_t gathers() const { return gathers_; }
  // The gathers run on their own duplicate of the communicator (so they never have to interleave in a
  // fixed order with the gradient buckets); its byte counts are here.
  Communicator& communicator() { return *comm_; }

 private:
  struct Entry {
    std::string name;  // the slot
    std::vector<int64_t> shape;
    int64_t offset = 0, numel = 0;
    std::vector<std::string> pieces;  // the file tensors filling it, in order (one: the slot's own name)
  };
  struct Layer {
    std::vector<Entry> entries;
    int64_t numel = 0, padded = 0;
    at::Tensor owned;     // this rank's slice [padded / world]
    at::Tensor gathered;  // while in use or in flight
    WorkPtr work;
    // Trainable parameters of the layer: indices into the engine's parameters, contiguous in its flat
    // buffer over [train_begin, train_end).
    std::vector<size_t> trainables;
    int64_t train_begin = 0, train_end = 0;
    at::Tensor train_gathered;
    WorkPtr train_work;
    bool train_live = false;
  };
  void release_trainables(Layer& layer);
  void start_gather(size_t layer);
  void acquire(size_t layer, bool backward);
  void release(size_t layer);

  std::unique_ptr<Communicator> comm_;
  LayeredModel model_;
  std::vector<Layer> layers_;
  ZeroEngine* engine_ = nullptr;
  int release_callback_ = 0;
  int64_t gathers_ = 0;
};

}  // namespace zt::dist
