#include "dist/zero3_weights.h"

#include <set>

#include "core/torch_api.h"

#include "core/check.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "dist/zero.h"

namespace zt::dist {
namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::function<bool(const std::string&)> LayerWeightPartition::resident_predicate(const LayerOf& layer_of,
                                                                                const std::string& model_dir,
                                                                                int64_t persistence_threshold) {
  return resident_predicate(layer_of, st::Checkpoint::open(model_dir), persistence_threshold);
}

std::function<bool(const std::string&)> LayerWeightPartition::resident_predicate(const LayerOf& layer_of,
                                                                                const st::Checkpoint& weights,
                                                                                int64_t persistence_threshold,
                                                                                const StoredIn& stored_in) {
  std::map<std::string, int64_t> sizes;
  for (const std::string& name : weights.names()) {
    const StoredSlot* slot = stored_in ? stored_in(name) : nullptr;
    sizes[slot != nullptr ? slot->slot : name] += numel_of(weights.locate(name).second->shape);
  }
  return [sizes, persistence_threshold, layer_of](const std::string& name) {
    auto found = sizes.find(name);
    return layer_of(name) < 0 || found == sizes.end() || found->second < persistence_threshold;
  };
}

LayerWeightPartition::LayerWeightPartition(Communicator& comm, LayeredModel model, const std::string& model_dir,
                                           int64_t persistence_threshold, at::ScalarType dtype, at::Device device)
    : LayerWeightPartition(comm, std::move(model), st::Checkpoint::open(model_dir), model_dir, persistence_threshold,
                           dtype, device) {}

LayerWeightPartition::LayerWeightPartition(Communicator& comm, LayeredModel model, const st::Checkpoint& weights,
                                           const std::string& model_dir, int64_t persistence_threshold,
                                           at::ScalarType dtype, at::Device device)
    : comm_(comm.duplicate()), model_(std::move(model)) {
  auto resident = resident_predicate(model_.layer_of, weights, persistence_threshold, model_.stored_in);
  layers_.resize(static_cast<size_t>(model_.num_layers));
  std::set<std::string> slots;
  for (const std::string& file_name : weights.names()) {  // sorted: the same order on every rank
    const StoredSlot* stored = model_.stored_in ? model_.stored_in(file_name) : nullptr;
    const std::string name = stored != nullptr ? stored->slot : file_name;
    const int64_t l = model_.layer_of(name);
    if (l < 0 || resident(name) || (model_.kept_whole && model_.kept_whole(name)) || !slots.insert(name).second) continue;
    ZT_REQUIRE(l < static_cast<int64_t>(layers_.size()), model_dir << ": weight '" << name << "' is beyond layer "
                                                                   << layers_.size() - 1);
    ZT_CHECK(!model_.weight_slot(name)->defined(), "'" << name << "' is partitioned but was loaded whole");
    Layer& layer = layers_[static_cast<size_t>(l)];
    std::vector<int64_t> shape = stored != nullptr ? stored->shape : weights.locate(name).second->shape;
    layer.entries.push_back({name, shape, layer.numel, numel_of(shape),
                             stored != nullptr ? stored->pieces : std::vector<std::string>{name}});
    layer.numel += numel_of(shape);
  }
  const int64_t world = comm_->size(), rank = comm_->rank();
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  for (Layer& layer : layers_) {
    layer.padded = (layer.numel + world - 1) / world * world;
    const int64_t chunk = layer.padded / world, begin = rank * chunk, end = begin + chunk;
    layer.owned = at::zeros({chunk}, options);
    for (const Entry& e : layer.entries) {
      int64_t piece_offset = e.offset;
      for (const std::string& piece : e.pieces) {
        auto [file, info] = weights.locate(piece);
        const int64_t piece_numel = numel_of(info->shape);
        const int64_t lo = std::max(begin, piece_offset), hi = std::min(end, piece_offset + piece_numel);
        if (lo < hi) {
          // A view of the mapped file: only the pages of this slice are read.
          at::Tensor source = st::to_tensor(file, *info).reshape({-1}).narrow(0, lo - piece_offset, hi - lo);
          layer.owned.narrow(0, lo - begin, hi - lo).copy_(source);
        }
        piece_offset += piece_numel;
      }
      ZT_REQUIRE(piece_offset == e.offset + e.numel, model_dir << ": the pieces of '" << e.name << "' hold "
                                                               << piece_offset - e.offset << " values, its shape "
                                                               << e.numel);
    }
  }
  model_.set_layer_hooks([this](size_t l, bool backward) { acquire(l, backward); }, [this](size_t l) { release(l); });
}

LayerWeightPartition::~LayerWeightPartition() {
  model_.set_layer_hooks({}, {});
  if (engine_ != nullptr) engine_->remove_release_callback(release_callback_);
}

void LayerWeightPartition::attach_trainables(ZeroEngine& engine) {
  ZT_CHECK(engine.config().stage == 3, "attach_trainables needs a stage 3 engine");
  ZT_CHECK(engine_ == nullptr, "trainables attached twice");
  const FlatLayout& layout = engine.layout();
  for (size_t i = 0; i < layout.entries.size(); ++i) {
    const int64_t l = model_.layer_of(layout.entries[i].name);
    ZT_REQUIRE(l >= 0 && l < static_cast<int64_t>(layers_.size()),
               "--deepspeed zero3 partitions trainable parameters by decoder layer; '"
                   << layout.entries[i].name << "' is outside the layers (use zero2 with --modules_to_save)");
    Layer& layer = layers_[static_cast<size_t>(l)];
    const FlatEntry& e = layout.entries[i];
    if (layer.trainables.empty()) layer.train_begin = e.offset;
    ZT_CHECK(layer.trainables.empty() || layer.train_end == e.offset,
             "trainable parameters of layer " << l << " are not contiguous in the flat buffer");
    layer.trainables.push_back(i);
    layer.train_end = e.offset + e.numel;
  }
  engine_ = &engine;
  engine.set_parameters_partitioned(true);
  release_callback_ = engine.add_release_callback([this] {
    for (Layer& layer : layers_) release_trainables(layer);
  });
  for (Layer& layer : layers_) {
    layer.train_live = true;
    release_trainables(layer);
  }
}

void LayerWeightPartition::start_gather(size_t index) {
  Layer& layer = layers_[index];
  if (!layer.work && !layer.entries.empty()) {
    layer.gathered = at::empty({layer.padded}, layer.owned.options());
    layer.work = comm_->all_gather(layer.owned, layer.gathered,
                                   std::vector<int64_t>(static_cast<size_t>(comm_->size()), layer.owned.numel()));
    ++gathers_;
  }
  if (engine_ != nullptr && !layer.trainables.empty() && !layer.train_work && !layer.train_live) {
    // Each rank contributes the part of the layer's range that falls in its master partition.
    std::vector<int64_t> counts = engine_->piece_counts(layer.train_begin, layer.train_end);
    const int64_t mine = counts[static_cast<size_t>(comm_->rank())];
    const int64_t start = mine > 0 ? std::max(layer.train_begin, engine_->owned_begin()) - engine_->owned_begin() : 0;
    at::Tensor input = engine_->master().narrow(0, start, mine);
    layer.train_gathered = at::empty({layer.train_end - layer.train_begin}, engine_->master().options());
    layer.train_work = comm_->all_gather(input, layer.train_gathered, counts);
  }
}

void LayerWeightPartition::acquire(size_t index, bool backward) {
  Layer& layer = layers_[index];
  start_gather(index);
  // Prefetch the layer that runs next: the following one in forward, the previous one in backward.
  const int64_t next = static_cast<int64_t>(index) + (backward ? -1 : 1);
  if (next >= 0 && next < static_cast<int64_t>(layers_.size())) start_gather(static_cast<size_t>(next));
  if (layer.work) {
    layer.work->wait();
    for (const Entry& e : layer.entries)
      *model_.weight_slot(e.name) = layer.gathered.narrow(0, e.offset, e.numel).view(e.shape);
  }
  if (layer.train_work) {
    layer.train_work->wait();
    layer.train_work.reset();
    at::NoGradGuard no_grad;
    const FlatLayout& layout = engine_->layout();
    for (size_t p : layer.trainables) {
      const FlatEntry& e = layout.entries[p];
      // set_data keeps the tensor (and its gradient hook) and swaps what it holds.
      engine_->parameters()[p].set_data(
          layer.train_gathered.narrow(0, e.offset - layer.train_begin, e.numel).view(e.shape));
    }
    layer.train_live = true;
  }
}

void LayerWeightPartition::release_trainables(Layer& layer) {
  if (layer.train_work) {  // a prefetch that was not used: its values may be about to change
    layer.train_work->wait();
    layer.train_work.reset();
    layer.train_gathered = at::Tensor();
  }
  if (!layer.train_live || engine_ == nullptr) return;
  at::NoGradGuard no_grad;
  for (size_t p : layer.trainables)
    engine_->parameters()[p].set_data(at::empty({0}, engine_->master().options()));
  layer.train_gathered = at::Tensor();
  layer.train_live = false;
}

void LayerWeightPartition::release(size_t index) {
  Layer& layer = layers_[index];
  for (const Entry& e : layer.entries) *model_.weight_slot(e.name) = at::Tensor();
  layer.gathered = at::Tensor();
  layer.work.reset();
  // Autograd saved the trainable tensors themselves (not copies) when it recorded this layer, so they keep
  // their values until backward is through; without autograd nothing holds them.
  if (!at::GradMode::is_enabled()) release_trainables(layer);
}

void LayerWeightPartition::replay_without_data(bool recompute) {
  {
    // As in a real step: a checkpointed forward runs without autograd, a plain one with it.
    at::AutoGradMode forward_mode(!recompute);
    for (size_t l = 0; l < layers_.size(); ++l) {
      acquire(l, false);
      release(l);
    }
  }
  if (!recompute) return;
  at::AutoGradMode backward_mode(true);
  for (size_t l = layers_.size(); l-- > 0;) {
    acquire(l, true);
    release(l);
    // Where a rank with data would now have this layer's gradients: the buckets they complete go out
    // here too, so both communicators see their operations in the same interleaving on every rank.
    if (engine_ != nullptr) engine_->mark_zero_gradients(layers_[l].trainables);
  }
}

int64_t LayerWeightPartition::partitioned_numel() const {
  int64_t n = 0;
  for (const Layer& layer : layers_) n += layer.numel;
  return n;
}

int64_t LayerWeightPartition::padded_numel() const {
  int64_t n = 0;
  for (const Layer& layer : layers_) n += layer.padded;
  return n;
}

int64_t LayerWeightPartition::owned_bytes() const {
  int64_t n = 0;
  for (const Layer& layer : layers_) n += layer.owned.nbytes();
  return n;
}

}  // namespace zt::dist
