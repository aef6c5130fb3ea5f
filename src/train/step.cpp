#include "train/step.h"

#include <ATen/ATen.h>

#include <csignal>

#include "core/check.h"
#include "core/safetensors.h"
#include "model/decoder.h"
#include "model/family/family.h"
#include "train/step_totals.h"
#include "model/weight_names.h"

namespace zt::train {

TrainStep::TrainStep(dist::Communicator& comm, model::DecoderModel& model, dist::ZeroEngine& engine,
                     dist::LayerWeightPartition* partition, bool gradient_checkpointing, double router_aux_loss_coef)
    : comm_(comm), model_(model), engine_(engine), partition_(partition), gradient_checkpointing_(gradient_checkpointing),
      router_aux_loss_coef_(router_aux_loss_coef) {}

double TrainStep::gradient_divisor(double label_tokens) {
  if (model_.options().expert_shards <= 1) return std::max(1.0, label_tokens);
  // Expert parallelism: a rank's expert gradients hold other ranks' tokens, which travelled back divided by
  // their own rank's divisor; one divisor for every rank (the micro-batch's mean label tokens over the world)
  // keeps each contribution weighed as in data parallelism.
  at::Tensor total = at::tensor({label_tokens}, at::kDouble).to(comm_.device());
  comm_.all_reduce(total)->wait();
  return std::max(1.0, total.cpu().item<double>() / comm_.size());
}

void TrainStep::micro_batch(const std::vector<data::PackedRow>& rows) {
  const c10::Device device = model_.options().device;
  if (!sums_.defined()) sums_ = at::zeros({3}, at::TensorOptions().dtype(at::kDouble).device(device));
  if (!rows.empty()) {
    const data::PackedRow row = concatenate(rows);
    const model::ForwardOutput forward = model_.forward(row_tensor(row.input_ids, device), row_tensor(row.position_ids, device),
                                                        true, model::layout_from_cu_seqlens(row.cu_seqlens));
    const model::LossOutput loss = model_.loss(forward.hidden, row_tensor(row.labels, device));
    // Backward runs on the micro-batch's mean loss times the loss scale (as DeepSpeed and transformers do),
    // so fp16 activation gradients stay in range; the engine weighs these gradients by the micro-batch's
    // label tokens as it adds them up in fp32, and the step divides by the tokens of the whole step.
    const double label_tokens = std::max<double>(1.0, count_label_tokens(row.labels));
    const double divisor = gradient_divisor(label_tokens);
    engine_.set_micro_batch_weight(divisor);
    // A mixture of experts' load-balancing loss joins the micro-batch's mean loss as ms-swift adds it
    // (mean cross-entropy + coef * aux, weighed by the micro-batch's label tokens like the rest).
    at::Tensor objective = loss.loss_sum;
    if (router_aux_loss_coef_ > 0 && forward.router_load.defined())
      objective = objective + forward.load_balancing_loss() * (router_aux_loss_coef_ * label_tokens);
    (objective * (engine_.loss_scale() / divisor)).backward();
    // Summed where they are; read once, in finish().
    sums_.narrow(0, 0, 1).add_(objective.detach().reshape({1}).to(at::kDouble));
    sums_.narrow(0, 1, 2).add_(loss.counts);
    input_tokens_ += static_cast<double>(row.input_ids.size());
  } else if (model_.options().expert_shards > 1) {
    // Expert parallelism: the others' tokens reach this rank's experts in every layer, forward and backward, so
    // a rank without rows runs one token whose loss counts nothing (its gradients are zero) to take part.
    const data::PackedRow row = placeholder_row();
    const model::ForwardOutput forward = model_.forward(row_tensor(row.input_ids, device), row_tensor(row.position_ids, device),
                                                        true, model::layout_from_cu_seqlens(row.cu_seqlens));
    at::Tensor nothing = model_.loss(forward.hidden, row_tensor(row.labels, device)).loss_sum;
    if (forward.router_load.defined()) nothing = nothing + forward.load_balancing_loss();
    engine_.set_micro_batch_weight(gradient_divisor(0));
    (nothing * 0.0).backward();
  } else if (partition_ != nullptr) {
    partition_->replay_without_data(gradient_checkpointing_);
  }
  engine_.after_backward();
}

StepOutcome TrainStep::finish(double learning_rate, int stop_signal) {
  const c10::Device device = model_.options().device;
  if (!sums_.defined()) sums_ = at::zeros({3}, at::TensorOptions().dtype(at::kDouble).device(device));
  // The ranks that received SIGUSR1 and those that received SIGTERM are counted apart, so that every rank names
  // the signal the job was sent even when the signal reached only some ranks before this step's end.
  at::Tensor totals = at::cat({sums_, at::tensor({double(stop_signal == SIGUSR1), double(stop_signal == SIGTERM),
                                                  input_tokens_}, at::kDouble).to(device)});
  ZT_CHECK(totals.numel() == kStepTotals, "the step's totals are " << totals.numel() << " values, the estimate counts "
                                                                 << kStepTotals);
  comm_.all_reduce(totals)->wait();
  totals = totals.cpu();  // the one read of the step
  sums_.zero_();
  input_tokens_ = 0;
  StepOutcome outcome;
  outcome.input_tokens = totals[5].item<double>();
  outcome.tokens = totals[1].item<double>();
  outcome.loss = totals[0].item<double>() / std::max(1.0, outcome.tokens);
  outcome.correct = totals[2].item<double>();
  // Every rank stops after the same step, naming SIGUSR1 (the checkpoint-and-requeue request) when any rank got it.
  outcome.stop_signal = totals[3].item<double>() > 0 ? SIGUSR1 : totals[4].item<double>() > 0 ? SIGTERM : 0;
  outcome.learning_rate = learning_rate;
  outcome.result = engine_.step(learning_rate, 1.0 / std::max(1.0, outcome.tokens));
  return outcome;
}

data::PackedRow placeholder_row() { return data::PackedRow{{0}, {-100}, {0}, {0, 1}, {}}; }

int64_t count_label_tokens(const std::vector<int32_t>& labels) {
  int64_t count = 0;
  for (size_t t = 1; t < labels.size(); ++t) count += labels[t] != -100;
  return count;
}

data::PackedRow concatenate(const std::vector<data::PackedRow>& rows) {
  if (rows.size() == 1) return rows[0];
  data::PackedRow out;
  for (const data::PackedRow& row : rows) {
    out.input_ids.insert(out.input_ids.end(), row.input_ids.begin(), row.input_ids.end());
    out.labels.insert(out.labels.end(), row.labels.begin(), row.labels.end());
    // Sample offsets continue from the tokens already there.
    if (out.cu_seqlens.empty()) out.cu_seqlens.push_back(0);
    const int32_t offset = static_cast<int32_t>(out.position_ids.size());
    for (size_t i = 1; i < row.cu_seqlens.size(); ++i) out.cu_seqlens.push_back(offset + row.cu_seqlens[i]);
    out.position_ids.insert(out.position_ids.end(), row.position_ids.begin(), row.position_ids.end());
  }
  return out;
}

at::Tensor row_tensor(const std::vector<int32_t>& values, c10::Device device) {
  const int64_t n = static_cast<int64_t>(values.size());
  at::Tensor host = at::empty({1, n}, at::TensorOptions().dtype(at::kLong).pinned_memory(device.is_cuda()));
  int64_t* out = host.mutable_data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) out[i] = values[static_cast<size_t>(i)];
  return device.is_cpu() ? host : host.to(device, /*non_blocking=*/true);
}

std::map<std::string, dist::StoredSlot> stored_slots(const model::ModelConfig& config, const st::Checkpoint& weights) {
  std::map<std::string, dist::StoredSlot> slots;
  for (model::StackedWeight& stacked : model::stacked_weights(config)) {
    if (weights.contains(stacked.name)) continue;  // stored stacked: a slot of its own name
    const dist::StoredSlot slot{stacked.name, stacked.shape, stacked.pieces};
    for (const std::string& piece : stacked.pieces) slots.emplace(piece, slot);
  }
  return slots;
}

dist::LayeredModel layered_model(model::DecoderModel& model, dist::StoredIn stored_in,
                                 std::function<bool(const std::string&)> kept_whole) {
  dist::LayeredModel layered;
  layered.stored_in = std::move(stored_in);
  layered.kept_whole = std::move(kept_whole);
  layered.num_layers = model.config().num_layers;
  layered.layer_of = model::layer_of;
  layered.weight_slot = [&model](const std::string& name) { return model.layer_weight_slot(name); };
  layered.set_layer_hooks = [&model](dist::LayeredModel::Acquire acquire, dist::LayeredModel::Release release) {
    model.set_layer_hooks({std::move(acquire), std::move(release)});
  };
  return layered;
}

}  // namespace zt::train
