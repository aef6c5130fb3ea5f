#include "train/evaluator.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "dist/launch.h"
#include "model/decoder.h"
#include "train/step.h"

namespace zt::train {

Evaluator::Evaluator(dist::Communicator& comm, data::DataPipeline& pipeline, const std::vector<data::RawRow>& rows,
                     int batch_size, double router_aux_loss_coef)
    : comm_(comm), batch_size_(static_cast<size_t>(std::max(1, batch_size))), router_aux_loss_coef_(router_aux_loss_coef) {
  uint64_t skipped = 0;
  for (const data::RawRow& row : rows) {
    if (std::optional<data::SampleWithSource> sample = pipeline.encode(row))
      rows_.push_back(data::single_row(std::move(*sample)));
    else
      ++skipped;
  }
  uint64_t most = 0, total = 0, total_skipped = 0;
  const std::vector<uint64_t> all = comm_.all_gather_values({rows_.size(), skipped});
  for (size_t r = 0; r < all.size(); r += 2) {
    most = std::max<uint64_t>(most, (all[r] + batch_size_ - 1) / batch_size_);
    total += all[r], total_skipped += all[r + 1];
  }
  batches_ = static_cast<int64_t>(most);
  if (comm.rank() == 0 && total + total_skipped > 0)
    ZT_LOG_INFO("validation: " << total << " rows"
                               << (total_skipped ? ", " + std::to_string(total_skipped) + " skipped (too long or malformed)" : ""));
  active_ = total > 0;
}

EvalResult Evaluator::run(model::DecoderModel& model) {
  const auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  double weighted_loss = 0, rows = 0, tokens = 0, correct = 0;
  for (int64_t b = 0; b < batches_; ++b) {
    const size_t begin = static_cast<size_t>(b) * batch_size_;
    std::vector<data::PackedRow> group;
    for (size_t i = begin; i < std::min(rows_.size(), begin + batch_size_); ++i) group.push_back(rows_[i]);
    // A rank whose share is done still runs a one-token forward: under ZeRO-3 every rank takes part in
    // every layer gather.
    const data::PackedRow row = group.empty() ? placeholder_row() : concatenate(group);
    const c10::Device device = model.options().device;
    const model::ForwardOutput forward = model.forward(row_tensor(row.input_ids, device), row_tensor(row.position_ids, device),
                                                       false, model::layout_from_cu_seqlens(row.cu_seqlens));
    const model::LossOutput loss = model.loss(forward.hidden, row_tensor(row.labels, device));
    const at::Tensor counts = loss.counts.cpu();
    const double label_tokens = double(counts[0].item<int64_t>());
    if (group.empty() || label_tokens == 0) continue;
    double batch_loss = loss.loss_sum.item<double>() / label_tokens;
    if (router_aux_loss_coef_ > 0 && forward.router_load.defined())
      batch_loss += router_aux_loss_coef_ * forward.load_balancing_loss().item<double>();
    weighted_loss += batch_loss * double(group.size());
    rows += double(group.size());
    tokens += label_tokens;
    correct += double(counts[1].item<int64_t>());
  }
  at::Tensor totals = at::tensor({weighted_loss, rows, tokens, correct}, at::kDouble).to(comm_.device());
  comm_.all_reduce(totals)->wait();
  totals = totals.cpu();
  EvalResult result;
  result.loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
  result.token_acc = totals[3].item<double>() / std::max(1.0, totals[2].item<double>());
  result.runtime = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.samples = static_cast<int64_t>(totals[1].item<double>());
  result.batches = batches_ * comm_.size();
  return result;
}

}  // namespace zt::train
