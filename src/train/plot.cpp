#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace zt::train {
namespace {

constexpr double kWidth = 720, kHeight = 420, kLeft = 80, kRight = 20, kTop = 40, kBottom = 50;

// About `count` ticks at 1, 2 or 5 times a power of ten covering [low, high].
std::vector<double> ticks(double low, double high, int count) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * power) {
      step = m * power;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out.push_back(c);
  }
  return out;
}

}  // namespace

std::vector<double> smooth(const std::vector<double>& values, double weight) {
  std::vector<double> out;
  double last = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    last = last * weight + (1 - weight) * values[i];
    out.push_back(last / (1 - std::pow(weight, double(i + 1))));
  }
  return out;
}

void write_line_chart(const std::string& path, const std::string& title, const std::string& x_label,
                      const std::vector<Series>& series) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y0 -= 0.5 * std::max(1e-12, std::abs(y0)), y1 += 0.5 * std::max(1e-12, std::abs(y1));
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * plot_w; };
  auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * plot_h; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << escape(title)
      << "</text>\n";
  for (double t : ticks(y0, y1, 6))
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kWidth - kRight << "\" y1=\"" << py(t) << "\" y2=\"" << py(t)
        << "\" stroke=\"#ddd\"/><text x=\"" << kLeft - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
        << number(t) << "</text>\n";
  for (double t : ticks(x0, x1, 8))
    svg << "<line x1=\"" << px(t) << "\" x2=\"" << px(t) << "\" y1=\"" << kTop << "\" y2=\"" << kHeight - kBottom
        << "\" stroke=\"#eee\"/><text x=\"" << px(t) << "\" y=\"" << kHeight - kBottom + 16
        << "\" text-anchor=\"middle\">" << number(t) << "</text>\n";
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\"" << plot_h
      << "\" fill=\"none\" stroke=\"#444\"/>\n<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 12
      << "\" text-anchor=\"middle\">" << escape(x_label) << "</text>\n";
  double legend_y = kTop + 16;
  for (const Series& s : series) {
    svg << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) svg << px(s.x[i]) << "," << py(s.y[i]) << " ";
    svg << "\"/>\n";
    if (s.x.size() == 1) svg << "<circle cx=\"" << px(s.x[0]) << "\" cy=\"" << py(s.y[0]) << "\" r=\"3\" fill=\"" << s.color << "\"/>\n";
    svg << "<text x=\"" << kWidth - kRight - 8 << "\" y=\"" << legend_y << "\" text-anchor=\"end\" fill=\"" << s.color
        << "\">" << escape(s.name) << "</text>\n";
    legend_y += 16;
  }
  svg << "</svg>\n";
  std::ofstream out(path);
  out << svg.str();
  ZT_REQUIRE(out.good(), path << ": cannot write the chart");
}

}  // namespace zt::train
