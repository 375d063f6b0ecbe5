// How one series of per-frame measurements follows another (e.g. the swapped face's mouth-open
// ratio against the target's over a talking-head clip): the quality bench and the realism tests
// compute the same figures with these.
//
// Threading: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace facefuse {

// Pearson correlation of a and b (same length); nullopt when either is constant (or empty).
inline std::optional<double> pearson_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (!(saa > 0 && sbb > 0)) return std::nullopt;
  return sab / std::sqrt(saa * sbb);
}

// The 5th–95th percentile spread of v (its range without the outliers); 0 for an empty v.
inline double percentile_spread(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() * 95 / 100] - v[v.size() * 5 / 100];
}

}  // namespace facefuse
