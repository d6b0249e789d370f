// Unit tests of the header math shared by the C++ and CUDA kernels (run by ctest): partition of
// unity, agreement with a plain Cox–de Boor recursion, derivatives and the meta-learner's backward
// against finite differences, the identity activation exactly.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../metakan/meta_mlp.h"
#include "../metakan/spline.h"

using namespace metakan;

namespace {

int failures = 0;

void check(bool ok, const char* what, double got, double want, double x = NAN) {
  if (ok) return;
  ++failures;
  std::printf("FAIL %s: got %.17g, want %.17g (x = %.17g)\n", what, got, want, x);
}

void check_close(double got, double want, double tol, const char* what, double x = NAN) {
  check(std::fabs(got - want) <= tol * (1.0 + std::fabs(want)), what, got, want, x);
}

// The grids a test runs on: the uniform one and a non-uniform row of the same size.
struct Grids {
  int grid_size;
  int order;
  UniformGrid<double> uniform;
  std::vector<double> row;  // G + 2k + 1 strictly increasing knots

  Grids(int g, int k, std::mt19937& rng) : grid_size(g), order(k), uniform(-1.0, 2.0 / g, g, k) {
    std::uniform_real_distribution<double> gap(0.3, 1.7);
    double t = -1.0 - k * (2.0 / g);
    for (int j = 0; j <= g + 2 * k; ++j) {
      row.push_back(t);
      t += gap(rng) * (2.0 / g);
    }
  }
  KnotRow<double, double> knot_row() const { return {row.data(), grid_size + 2 * order}; }
  int num_bases() const { return grid_size + order; }
  double knot(bool uniform_grid, int j) const { return uniform_grid ? uniform.knot(j) : row[j]; }
};

// Every basis by the full Cox–de Boor recursion over all knots, the way reference.py writes it.
std::vector<double> plain_bases(const Grids& g, bool uniform_grid, double x) {
  const int last = g.grid_size + 2 * g.order;
  std::vector<double> t(last + 1);
  for (int j = 0; j <= last; ++j) t[j] = g.knot(uniform_grid, j);
  std::vector<double> b(last);
  for (int j = 0; j < last; ++j) b[j] = (x >= t[j] && x < t[j + 1]) ? 1.0 : 0.0;
  for (int q = 1; q <= g.order; ++q) {
    for (int j = 0; j + q < last; ++j) {
      b[j] = (x - t[j]) / (t[j + q] - t[j]) * b[j] + (t[j + q + 1] - x) / (t[j + q + 1] - t[j + 1]) * b[j + 1];
    }
  }
  b.resize(g.num_bases());
  return b;
}

std::vector<double> dense(const Grids& g, bool uniform_grid, double x) {
  std::vector<double> out(g.num_bases());
  with_order(g.order, [&](auto order) {
    constexpr int P = decltype(order)::value;
    if (uniform_grid) {
      dense_bases<P>(g.uniform, x, g.num_bases(), out.data());
    } else {
      dense_bases<P>(g.knot_row(), x, g.num_bases(), out.data());
    }
  });
  return out;
}

// sum_m w[m] B'_m(x) through basis_grad_dot.
double grad_dot(const Grids& g, bool uniform_grid, double x, const std::vector<double>& w) {
  double v = 0.0;
  with_order(g.order, [&](auto order) {
    constexpr int P = decltype(order)::value;
    v = uniform_grid ? basis_grad_dot<P>(g.uniform, x, g.num_bases(), w.data())
                     : basis_grad_dot<P>(g.knot_row(), x, g.num_bases(), w.data());
  });
  return v;
}

bool near_knot(const Grids& g, bool uniform_grid, double x, double eps) {
  for (int j = 0; j <= g.grid_size + 2 * g.order; ++j) {
    if (std::fabs(x - g.knot(uniform_grid, j)) < eps) return true;
  }
  return false;
}

void test_bases(std::mt19937& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int k = 0; k <= kMaxOrder; ++k) {
    for (int g : {1, 3, 5, 12}) {
      const Grids grids(g, k, rng);
      for (bool uniform_grid : {true, false}) {
        const double first = grids.knot(uniform_grid, 0);
        const double end = grids.knot(uniform_grid, g + 2 * k);
        const double lo = grids.knot(uniform_grid, k);
        const double hi = grids.knot(uniform_grid, g + k);
        for (int n = 0; n < 400; ++n) {
          const double x = first - 0.5 + (end - first + 1.0) * unit(rng);
          const std::vector<double> b = dense(grids, uniform_grid, x);
          const std::vector<double> want = plain_bases(grids, uniform_grid, x);
          double sum = 0.0;
          for (int m = 0; m < grids.num_bases(); ++m) {
            check_close(b[m], want[m], 1e-12, "basis = plain Cox-de Boor", x);
            sum += b[m];
          }
          if (x >= lo && x < hi) check_close(sum, 1.0, 1e-12, "partition of unity", x);
          if (x < first || x >= end) check(sum == 0.0, "zero outside [t_0, t_{G+2k})", sum, 0.0, x);
        }
        for (int j = 0; j <= g + 2 * k; ++j) {  // exactly on the knots: half-open intervals
          const double x = grids.knot(uniform_grid, j);
          const std::vector<double> b = dense(grids, uniform_grid, x);
          const std::vector<double> want = plain_bases(grids, uniform_grid, x);
          for (int m = 0; m < grids.num_bases(); ++m) check_close(b[m], want[m], 1e-12, "basis on a knot", x);
        }
        const std::vector<double> nan_bases = dense(grids, uniform_grid, NAN);
        for (double v : nan_bases) check(std::isnan(v), "NaN in, NaN bases", v, NAN);
      }
    }
  }
}

void test_derivatives(std::mt19937& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal;
  const double h = 1e-6;
  for (int k = 1; k <= kMaxOrder; ++k) {
    for (int g : {2, 5}) {
      const Grids grids(g, k, rng);
      std::vector<double> w(grids.num_bases());
      for (double& v : w) v = normal(rng);
      for (bool uniform_grid : {true, false}) {
        const double first = grids.knot(uniform_grid, 0);
        const double end = grids.knot(uniform_grid, g + 2 * k);
        for (int n = 0; n < 300; ++n) {
          const double x = first - 0.3 + (end - first + 0.6) * unit(rng);
          if (near_knot(grids, uniform_grid, x, 1e-4)) continue;
          auto f = [&](double v) {
            const std::vector<double> b = dense(grids, uniform_grid, v);
            double s = 0.0;
            for (int m = 0; m < grids.num_bases(); ++m) s += w[m] * b[m];
            return s;
          };
          const double fd = (f(x + h) - f(x - h)) / (2 * h);
          check_close(grad_dot(grids, uniform_grid, x, w), fd, 1e-6, "derivative vs finite difference", x);
        }
      }
    }
  }
}

// The meta-learner's pieces chained over one edge, for L = sum_r c[r] w_r(z): the forward against
// the formula written out, every gradient against central differences.
void test_meta_mlp(std::mt19937& rng) {
  std::normal_distribution<double> normal;
  const int d = 3;
  const int hidden = 5;
  const int outputs = 6;
  for (int activation : {kRelu, kSilu, kGelu, kTanh, kIdentity}) {
    std::vector<double> w1(hidden * d), b1(hidden), w2(outputs * hidden), b2(outputs), z(d), c(outputs);
    for (auto* v : {&w1, &b1, &w2, &b2, &z, &c}) {
      for (double& e : *v) e = normal(rng);
    }
    const MetaMlp<double> mlp{w1.data(), b1.data(), w2.data(), b2.data(), d, hidden, outputs, activation};
    auto outputs_of = [&]() {
      std::vector<double> act(hidden), out(outputs);
      for (int h = 0; h < hidden; ++h) act[h] = activate(activation, meta_pre<double>(mlp, z.data(), h));
      for (int r = 0; r < outputs; ++r) out[r] = meta_output<double>(mlp, act.data(), r);
      return out;
    };
    auto loss = [&]() {
      const std::vector<double> out = outputs_of();
      double s = 0.0;
      for (int r = 0; r < outputs; ++r) s += c[r] * out[r];
      return s;
    };
    const std::vector<double> out = outputs_of();
    for (int r = 0; r < outputs; ++r) {
      double want = b2[r];
      for (int h = 0; h < hidden; ++h) {
        double pre = b1[h];
        for (int j = 0; j < d; ++j) pre += w1[h * d + j] * z[j];
        want += w2[r * hidden + h] * activate(activation, pre);
      }
      check_close(out[r], want, 1e-13, "meta_pre + meta_output");
    }
    // The backward as the kernels assemble it: dpre from meta_pre_grad, dz from meta_embedding_grad,
    // the parameter gradients as outer products.
    std::vector<double> dpre(hidden), dz(d), dw1(hidden * d), db1(hidden), dw2(outputs * hidden), db2(c);
    for (int h = 0; h < hidden; ++h) {
      const double pre = meta_pre<double>(mlp, z.data(), h);
      dpre[h] = meta_pre_grad(mlp, c.data(), h, pre);
      db1[h] = dpre[h];
      for (int j = 0; j < d; ++j) dw1[h * d + j] = dpre[h] * z[j];
      for (int r = 0; r < outputs; ++r) dw2[r * hidden + h] = c[r] * activate(activation, pre);
    }
    for (int j = 0; j < d; ++j) dz[j] = meta_embedding_grad<double>(mlp, dpre.data(), j);
    const double eps = 1e-6;
    auto check_grad = [&](std::vector<double>& param, const std::vector<double>& grad, const char* name) {
      for (size_t i = 0; i < param.size(); ++i) {
        const double keep = param[i];
        param[i] = keep + eps;
        const double up = loss();
        param[i] = keep - eps;
        const double down = loss();
        param[i] = keep;
        check_close(grad[i], (up - down) / (2 * eps), 1e-6, name);
      }
    };
    check_grad(z, dz, "meta dz vs finite difference");
    check_grad(w1, dw1, "meta dw1 vs finite difference");
    check_grad(b1, db1, "meta db1 vs finite difference");
    check_grad(w2, dw2, "meta dw2 vs finite difference");
    check_grad(b2, db2, "meta db2 vs finite difference");
  }
}

// Identity (the affine meta-learner): every value passes through bit for bit (sign of zero, infinities
// and NaN included) and the derivative is 1 everywhere, as autograd's for a tensor passed through.
void test_identity_activation() {
  for (double v : {-HUGE_VAL, -3.5, -0.0, 0.0, 1e-310, 2.25, 1e300, HUGE_VAL}) {
    const double out = activate(kIdentity, v);
    check(out == v && std::signbit(out) == std::signbit(v), "identity passes v through", out, v);
    check(activate_grad(kIdentity, v) == 1.0, "identity's derivative is 1", activate_grad(kIdentity, v), 1.0, v);
  }
  check(std::isnan(activate(kIdentity, NAN)), "identity keeps NaN", activate(kIdentity, NAN), NAN);
  check(activate_grad(kIdentity, NAN) == 1.0, "identity's derivative at NaN is 1", activate_grad(kIdentity, NAN), 1.0);
  check(activate(kIdentity, 0.1f) == 0.1f, "identity in float", activate(kIdentity, 0.1f), 0.1f);
}

// The uniform knots are the reference's float32 ones bit for bit: float(j - k) * float(step) + float(lo);
// the spans follow these knots even where (x - t_0) / step rounds across one.
void test_uniform_knots_match_reference_rounding() {
  for (int g : {1, 3, 5, 7}) {
    for (int k = 0; k <= kMaxOrder; ++k) {
      const double lo = -1.3;
      const double step = (2.9 - lo) / g;
      const UniformGrid<float> grid(lo, step, g, k);
      for (int j = 0; j <= g + 2 * k; ++j) {
        volatile float product = static_cast<float>(j - k) * static_cast<float>(step);
        const float want = product + static_cast<float>(lo);
        check(grid.knot(j) == want, "uniform knot rounding", grid.knot(j), want);
        check(grid.locate(want) == (j < g + 2 * k ? j : -1), "knot is the start of its span", grid.locate(want), j);
        if (j > 0) {  // the largest float below a knot is in the span before it
          const float below = std::nextafter(want, -INFINITY);
          check(grid.locate(below) == j - 1, "below a knot is the span before", grid.locate(below), j - 1);
        }
      }
    }
  }
}

}  // namespace

int main() {
  std::mt19937 rng(0);
  test_bases(rng);
  test_derivatives(rng);
  test_meta_mlp(rng);
  test_identity_activation();
  test_uniform_knots_match_reference_rounding();
  if (failures > 0) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("header math: all checks passed\n");
  return 0;
}
