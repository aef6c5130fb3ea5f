// Evaluation on the validation rows: each rank encodes its share once; every evaluation runs as many
// batches on every rank (the fullest rank's count), so that ZeRO-3's layer gathers stay matched.
#pragma once

#include <cstdint>
#include <vector>

#include "data/packing.h"
#include "data/pipeline.h"
#include "dist/comm.h"

namespace zt::model {
class DecoderModel;
}

namespace zt::train {

struct EvalResult {
  double loss = 0;       // as transformers reports eval_loss: mean over batches of each batch's per-token loss,
                         // weighted by the batch's rows
  double token_acc = 0;  // over all label tokens
  double runtime = 0;    // seconds
  int64_t samples = 0, batches = 0;  // all ranks
};

class Evaluator {
 public:
  // `rows`: this rank's share of the validation rows, encoded with `pipeline` (rows it drops are counted
  // and reported). Collective: every rank constructs one. `router_aux_loss_coef` > 0: a mixture of experts'
  // load-balancing loss joins each batch's mean loss, as in training (ms-swift's eval loss has it too).
  Evaluator(dist::Communicator& comm, data::DataPipeline& pipeline, const std::vector<data::RawRow>& rows,
            int batch_size, double router_aux_loss_coef = 0);
  // Some rank has validation rows.
  bool active() const { return active_; }
  // Collective.
  EvalResult run(model::DecoderModel& model);

 private:
  dist::Communicator& comm_;
  std::vector<data::PackedRow> rows_;  // this rank's share, encoded
  size_t batch_size_ = 1;
  double router_aux_loss_coef_ = 0;
  int64_t batches_ = 0;                // per rank, the most any rank has
  bool active_ = false;
};

}  // namespace zt::train
