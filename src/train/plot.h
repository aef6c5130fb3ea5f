// Line charts as SVG files (the loss and learning-rate curves under images/), readable in any browser.
#pragma once

#include <string>
#include <vector>

namespace zt::train {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
};

// Writes one chart with the series over shared axes (ticks at round values) and a legend.
void write_line_chart(const std::string& path, const std::string& title, const std::string& x_label,
                      const std::vector<Series>& series);

// Exponential moving average with TensorBoard's debiasing (weight 0..1), for a smoothed curve.
std::vector<double> smooth(const std::vector<double>& values, double weight);

}  // namespace zt::train
