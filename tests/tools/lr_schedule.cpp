// Prints the learning rate of every optimizer step of a schedule, one per line, for
// tests/python/check_schedule.py. usage: ztune_lr_schedule TYPE LR TOTAL_STEPS WARMUP_STEPS WARMUP_RATIO
#include <cstdio>
#include <string>

#include "train/schedule.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s TYPE LR TOTAL_STEPS WARMUP_STEPS WARMUP_RATIO\n", argv[0]);
    return 2;
  }
  zt::train::ScheduleConfig config{argv[1], std::stod(argv[2]), std::stoll(argv[3]), std::stoll(argv[4]),
                                   std::stod(argv[5])};
  zt::train::LearningRateSchedule schedule(config);
  for (int64_t step = 0; step < config.total_steps; ++step) std::printf("%.17g\n", schedule.at(step));
  return 0;
}
