// Kernel-level tests of the CUDA launchers, run on CPU tensors through the CPU
// emulation under every schedule, against float64 references:
//   pointwise: all four dtypes, lengths 1..150001 around packs, tiles and the
//     emulated grid, pointer offsets of 0, 1 and 3 elements (packed and scalar
//     kernels, and an aligned output with a misaligned input);
//   PReLU and learnable Swish forward and backward, channel counts on both
//     sides of the shared-memory limit, channels outermost and innermost;
//   softmax and log_softmax over rows and columns, forward and backward, row
//     lengths 1, 31, 32, 33, 1000 and 5000, enough rows or columns for the
//     grid-stride loops to repeat, and rows with -inf, +inf and NaN;
//   bias + gelu and swiglu (with and without a bias), forward and backward
//     with the bias gradient, widths from 1 to 4097 and rows enough for
//     many chunks of the column sums, an offset input and output.
// Every output lies inside a larger buffer whose other elements must come
// out untouched.
//
//   kernel_tests [--stop-at-first-failure] [--only=emulator|pointwise|channelwise|softmax|bias]
//                [schedule...]   (default: all four schedules)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "emulator.h"
#include "kernel_api.h"

namespace kernel_tests {
namespace {

using at::Tensor;

const std::vector<at::ScalarType> kDtypes = {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16};

struct Tolerance {
  double rtol, atol;
};

Tolerance tolerance(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return {1e-10, 1e-12};
    case at::kFloat: return {2e-5, 1e-6};
    case at::kHalf: return {2e-3, 1e-4};
    default: return {1.6e-2, 1e-3};
  }
}

std::string name(at::ScalarType t) { return c10::toString(t); }

// Whether got matches want (elementwise, NaN matching NaN); says where not.
bool close(const Tensor& got, const Tensor& want, Tolerance tol, std::string* detail) {
  const Tensor g = got.to(at::kDouble).reshape(-1), w = want.to(at::kDouble).reshape(-1);
  const Tensor ok = g.eq(w) | (g - w).abs().le(tol.atol + tol.rtol * w.abs()) |
                    (g.isnan() & w.isnan());
  if (ok.all().item<bool>()) return true;
  const Tensor bad = ok.logical_not().nonzero();
  const int64_t i = bad[0][0].item<int64_t>();
  char buf[200];
  std::snprintf(buf, sizeof buf, "%lld of %lld elements differ; first at %lld: got %.17g, want %.17g",
                (long long)bad.size(0), (long long)g.numel(), (long long)i,
                g[i].item<double>(), w[i].item<double>());
  *detail = buf;
  return false;
}

void expect_close(Checker& check, const char* what, const Tensor& got, const Tensor& want,
                  Tolerance tol) {
  std::string detail;
  const bool ok = close(got, want, tol, &detail);
  check.expect(ok, std::string(what) + ": " + detail);
}

// A buffer of `size` elements filled with a sentinel, and a copy to compare
// the untouched part against.
struct Guarded {
  Tensor buffer, before;
  Guarded(int64_t size, at::ScalarType dtype) {
    buffer = at::full({size}, 1234.5, at::TensorOptions().dtype(dtype));
    before = buffer.clone();
  }
  Tensor view(int64_t offset, int64_t n) const { return buffer.slice(0, offset, offset + n); }
  // Everything outside [offset, offset + n) is as it was.
  bool untouched_outside(int64_t offset, int64_t n) const {
    const int64_t size = buffer.numel();
    return at::equal(buffer.slice(0, 0, offset), before.slice(0, 0, offset)) &&
           at::equal(buffer.slice(0, offset + n, size), before.slice(0, offset + n, size));
  }
};

constexpr int64_t kGuard = 37;

// Random values of both signs: slices of one pool (drawing afresh for every
// case would cost more than the kernels).
Tensor random_in(int64_t n, at::ScalarType dtype, double scale = 4.0) {
  static const Tensor pool = at::randn({1 << 20}, at::TensorOptions().dtype(at::kDouble));
  static int64_t next = 0;
  TORCH_CHECK(n <= pool.numel(), "the random pool is too small");
  if (next + n > pool.numel()) next = 0;
  const Tensor values = pool.slice(0, next, next + n);
  next += n % 4099 + 1;  // successive cases see different values
  return (values * scale).to(dtype);
}

// ------------------------------------------------------------ pointwise

struct Offsets {
  int64_t in, out;
};

void pointwise_case(Checker& check, int64_t n, at::ScalarType dtype, Offsets off) {
  check.context = "silu " + name(dtype) + " n=" + std::to_string(n) + " offsets in " +
                  std::to_string(off.in) + " out " + std::to_string(off.out);
  const Tolerance tol = tolerance(dtype);
  // inputs inside larger buffers too, so a read past the end reads real memory
  const Tensor x_buf = random_in(n + off.in + kGuard, dtype);
  const Tensor g_buf = random_in(n + off.in + kGuard, dtype, 1.0);
  const Tensor x = x_buf.slice(0, off.in, off.in + n), g = g_buf.slice(0, off.in, off.in + n);
  const Tensor xd = x.to(at::kDouble), gd = g.to(at::kDouble), s = at::sigmoid(xd);

  Guarded y(n + off.out + kGuard, dtype);
  silu_forward(x, y.view(off.out, n));
  expect_close(check, "forward", y.view(off.out, n), xd * s, tol);
  check.expect(y.untouched_outside(off.out, n), "forward writes only its output");

  Guarded gx(n + off.out + kGuard, dtype);
  silu_backward(g, x, gx.view(off.out, n));
  expect_close(check, "backward", gx.view(off.out, n), gd * s * (1 + xd * (1 - s)), tol);
  check.expect(gx.untouched_outside(off.out, n), "backward writes only its output");
}

// ---------------------------------------------------------- channel-wise

enum class Channelwise { kPReLU, kSwish };

void channelwise_case(Checker& check, Channelwise op, at::ScalarType dtype, int64_t n,
                      int64_t stride, int64_t channels) {
  const bool prelu = op == Channelwise::kPReLU;
  check.context = std::string(prelu ? "prelu " : "swish_learnable ") + name(dtype) +
                  " n=" + std::to_string(n) + " stride=" + std::to_string(stride) +
                  " channels=" + std::to_string(channels);
  const Tolerance tol = tolerance(dtype);
  const Tensor x = random_in(n, dtype), g = random_in(n, dtype, 1.0);
  const Tensor w = prelu ? (random_in(channels, at::kDouble, 0.5) + 0.2).to(dtype)
                         : (random_in(channels, at::kDouble, 0.7) + 0.5).to(dtype);
  const Tensor channel = at::arange(n, at::kLong).div(stride, "floor").remainder(channels);
  const Tensor xd = x.to(at::kDouble), gd = g.to(at::kDouble);
  const Tensor wd = w.to(at::kDouble).index_select(0, channel);

  Tensor y_ref, gx_ref, gw_terms;
  if (prelu) {
    const Tensor positive = xd.gt(0);
    y_ref = at::where(positive, xd, wd * xd);
    gx_ref = at::where(positive, gd, wd * gd);
    gw_terms = at::where(positive, at::zeros_like(xd), gd * xd);
  } else {
    const Tensor s = at::sigmoid(wd * xd);
    y_ref = xd * s;
    gx_ref = gd * s * (1 + wd * xd * (1 - s));
    gw_terms = gd * xd * xd * s * (1 - s);
  }
  const Tensor gw_ref = at::zeros({channels}, at::kDouble).index_add_(0, channel, gw_terms);
  const Tensor gw_scale = at::zeros({channels}, at::kDouble).index_add_(0, channel, gw_terms.abs());

  Guarded y(n + kGuard, dtype);
  (prelu ? prelu_forward : swish_forward)(x, w, y.view(0, n), stride, channels);
  expect_close(check, "forward", y.view(0, n), y_ref, tol);
  check.expect(y.untouched_outside(0, n), "forward writes only its output");

  Guarded gx(n + kGuard, dtype);
  const Tensor gw = (prelu ? prelu_backward : swish_backward)(g, x, w, gx.view(0, n), stride,
                                                              channels);
  expect_close(check, "grad input", gx.view(0, n), gx_ref, tol);
  check.expect(gx.untouched_outside(0, n), "backward writes only its grad input");
  // a sum in the compute type: its error grows with the terms' magnitudes
  const double eps = dtype == at::kDouble ? 1e-13 : 1e-5;
  std::string detail;
  const Tensor err = (gw.to(at::kDouble) - gw_ref).abs();
  const bool ok = gw.size(0) == channels && err.le(gw_scale * eps + eps).all().item<bool>();
  if (!ok && gw.size(0) == channels) {
    const int64_t c = err.argmax().item<int64_t>();
    detail = "channel " + std::to_string(c) + ": got " + std::to_string(gw[c].item<double>()) +
             ", want " + std::to_string(gw_ref[c].item<double>());
  }
  check.expect(ok, "grad weight " + detail);
}

// ---------------------------------------------------------------- softmax

// The launcher's own choice of threads per row, and the emulated device's
// resident blocks: enough rows make the rows kernel's loop repeat.
int64_t rows_to_repeat(int64_t dim) {
  int threads = 32;
  while (threads < 1024 && threads * 8 < dim) threads *= 2;
  return 2 * (2048 / threads) + 3;
}

void softmax_case(Checker& check, at::ScalarType dtype, int64_t outer, int64_t dim, int64_t inner,
                  bool log, const Tensor* given = nullptr) {
  check.context = std::string(log ? "log_softmax " : "softmax ") + name(dtype) + " (outer " +
                  std::to_string(outer) + ", dim " + std::to_string(dim) + ", inner " +
                  std::to_string(inner) + ")" + (given ? " extreme values" : "");
  const int64_t n = outer * dim * inner;
  Tolerance tol = tolerance(dtype);
  // a sum of `dim` exponentials in float: its rounding grows with dim
  if (dtype != at::kDouble) tol.atol += 4e-9 * double(dim);
  const Tensor x = given ? given->reshape(-1) : random_in(n, dtype);
  const Tensor x3 = x.to(at::kDouble).view({outer, dim, inner});
  const Tensor y_ref = (log ? at::log_softmax(x3, 1) : at::softmax(x3, 1)).reshape(-1);

  Guarded y(n + kGuard, dtype);
  softmax_forward(x, y.view(0, n), outer, dim, inner, log);
  expect_close(check, "forward", y.view(0, n), y_ref, tol);
  if (given) {
    // with -inf, +inf and NaN about: NaN exactly where torch's own kernel gives it
    const Tensor theirs = (log ? at::log_softmax(x.view({outer, dim, inner}), 1)
                               : at::softmax(x.view({outer, dim, inner}), 1));
    check.expect(at::equal(y.view(0, n).isnan(), theirs.reshape(-1).isnan()),
                 "forward: NaN where torch gives NaN");
  }
  check.expect(y.untouched_outside(0, n), "forward writes only its output");
  if (given) return;

  // backward from the reference output in this dtype
  const Tensor out = y_ref.to(dtype), g = random_in(n, dtype, 1.0);
  const Tensor od = out.to(at::kDouble).view({outer, dim, inner});
  const Tensor gd = g.to(at::kDouble).view({outer, dim, inner});
  const Tensor gx_ref = (log ? gd - od.exp() * gd.sum(1, true) : od * (gd - (gd * od).sum(1, true)))
                            .reshape(-1);
  Guarded gx(n + kGuard, dtype);
  softmax_backward(g, out, gx.view(0, n), outer, dim, inner, log);
  const Tolerance loose{tol.rtol * 4, tol.atol * 4 + (dtype == at::kDouble ? 0 : 1e-5)};
  expect_close(check, "backward", gx.view(0, n), gx_ref, loose);
  check.expect(gx.untouched_outside(0, n), "backward writes only its output");
}

// Rows (and, transposed, columns) where -inf, +inf and NaN sit first, last
// and in the middle of what one thread reads.
Tensor extreme_values(at::ScalarType dtype, int64_t rows, int64_t cols) {
  const double inf = INFINITY, nan = NAN;
  Tensor x = at::randn({rows, cols}, at::kDouble) * 3;
  x[0][1] = -inf;                                   // [a, -inf, b, ...]
  x[1][0] = -inf;                                   // -inf first
  x[2] = -inf;                                      // all -inf
  x[3][cols - 1] = inf;                             // +inf last
  x[4][cols / 2] = nan;                             // NaN inside
  x[5].slice(0, 0, cols / 2) = -inf;                // a -inf half
  x[6] *= 2500;                                     // about +-1e4
  x[7][0] = -inf;                                   // -inf first and last
  x[7][cols - 1] = -inf;
  return x.to(dtype);
}

// ---------------------------------------------------------------- bias

// The bias gradient sums `rows` terms: off by their rounding at most.
Tolerance sum_tolerance(at::ScalarType dtype, const Tensor& terms) {
  const Tolerance tol = tolerance(dtype);
  return {tol.rtol, tol.rtol * terms.abs().sum(0).max().item<double>() + tol.atol * terms.size(0)};
}

void bias_case(Checker& check, at::ScalarType dtype, int64_t rows, int64_t cols, int64_t off) {
  check.context = "gelu bias " + name(dtype) + " " + std::to_string(rows) + "x" + std::to_string(cols) +
                  " offset " + std::to_string(off);
  const Tolerance tol = tolerance(dtype);
  const int64_t n = rows * cols;
  const Tensor x = random_in(n + off + kGuard, dtype).slice(0, off, off + n);
  const Tensor b = random_in(cols, dtype, 1.0), g = random_in(n, dtype, 1.0);
  const Tensor z = (x.view({rows, cols}) + b).to(at::kDouble);  // the sum rounded as the kernels round it
  const Tensor phi = 0.5 * at::erfc(-z / std::sqrt(2.0));
  Guarded y(n + off + kGuard, dtype);
  gelu_bias_forward(x, b, y.view(off, n));
  expect_close(check, "forward", y.view(off, n), (z * phi).reshape(-1), tol);
  check.expect(y.untouched_outside(off, n), "forward writes only its output");
  Guarded gx(n + off + kGuard, dtype);
  const Tensor gb = gelu_bias_backward(g, x, b, gx.view(off, n));
  const Tensor dz = g.to(at::kDouble).view({rows, cols}) * (phi + z * at::exp(-0.5 * z * z) / std::sqrt(2 * M_PI));
  expect_close(check, "backward", gx.view(off, n), dz.reshape(-1), tol);
  check.expect(gx.untouched_outside(off, n), "backward writes only its output");
  expect_close(check, "bias gradient", gb, dz.sum(0), sum_tolerance(dtype, dz));
}

void swiglu_bias_case(Checker& check, at::ScalarType dtype, int64_t rows, int64_t len, bool with_bias) {
  check.context = std::string("swiglu ") + (with_bias ? "bias " : "") + name(dtype) + " " + std::to_string(rows) +
                  "x2x" + std::to_string(len);
  const Tolerance tol = tolerance(dtype);
  const int64_t n = rows * len;
  const Tensor x = random_in(2 * n, dtype), g = random_in(n, dtype, 1.0);
  const Tensor b = with_bias ? random_in(2 * len, dtype, 1.0) : Tensor();
  const Tensor xb = with_bias ? x.view({rows, 2 * len}) + b : x.view({rows, 2 * len});
  const Tensor a = xb.slice(1, 0, len).to(at::kDouble), u = xb.slice(1, len, 2 * len).to(at::kDouble);
  const Tensor s = at::sigmoid(a);
  Guarded y(n + kGuard, dtype);
  swiglu_forward(x, b, y.view(0, n), len);
  expect_close(check, "forward", y.view(0, n), (a * s * u).reshape(-1), tol);
  check.expect(y.untouched_outside(0, n), "forward writes only its output");
  if (!with_bias) return;
  Guarded gx(2 * n + kGuard, dtype);
  const Tensor gb = swiglu_bias_backward(g, x, b, gx.view(0, 2 * n), len);
  const Tensor gd = g.to(at::kDouble).view({rows, len});
  const Tensor want = at::cat({gd * u * s * (1 + a * (1 - s)), gd * a * s}, 1);
  expect_close(check, "backward", gx.view(0, 2 * n), want.reshape(-1), tol);
  check.expect(gx.untouched_outside(0, 2 * n), "backward writes only its output");
  expect_close(check, "bias gradient", gb, want.sum(0), sum_tolerance(dtype, want));
}

}  // namespace

void bias_tests(Checker& check) {
  struct Shape {
    int64_t rows, cols;
  };
  // odd widths (scalar kernel), whole packs, many rows (many chunks), wide rows (many column blocks)
  const std::vector<Shape> shapes = {{1, 1}, {3, 5}, {7, 64}, {300, 8}, {33, 1000}, {2, 4097}, {1000, 3}};
  for (at::ScalarType dtype : kDtypes) {
    for (const Shape& s : shapes) {
      for (int64_t off : {0, 1}) bias_case(check, dtype, s.rows, s.cols, off);
      for (bool with_bias : {false, true}) swiglu_bias_case(check, dtype, s.rows, s.cols, with_bias);
    }
  }
}

void pointwise_tests(Checker& check) {
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (int64_t n : {63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096,
                    4097, 8191, 8193, 16383, 16385, 32767, 32769, 65535, 65537, 70001, 131073,
                    150001}) {
    lengths.push_back(n);
  }
  const std::vector<Offsets> offsets = {{0, 0}, {1, 1}, {3, 3}, {1, 0}, {0, 3}};
  for (at::ScalarType dtype : kDtypes)
    for (int64_t n : lengths)
      for (Offsets off : offsets) pointwise_case(check, n, dtype, off);
}

void channelwise_tests(Checker& check) {
  struct Shape {
    int64_t batch, channels, spatial;
  };
  // around the 4096 channels summed in shared memory; 64 x 33 x 4 repeats the grid
  const std::vector<Shape> shapes = {{3, 3, 1},   {4, 64, 33},  {2, 5, 700},  {2, 4096, 3},
                                     {2, 4097, 3}, {1, 5000, 1}, {3, 4096, 1}, {2, 4097, 2}};
  for (at::ScalarType dtype : kDtypes) {
    for (const Shape& s : shapes) {
      const int64_t n = s.batch * s.channels * s.spatial;
      channelwise_case(check, Channelwise::kPReLU, dtype, n, s.spatial, s.channels);  // NCHW
      channelwise_case(check, Channelwise::kPReLU, dtype, n, 1, s.channels);  // channels last
    }
    for (int64_t n : {1, 33, 4097, 20000}) {
      channelwise_case(check, Channelwise::kPReLU, dtype, n, n, 1);  // one weight for all
      channelwise_case(check, Channelwise::kSwish, dtype, n, n, 1);
    }
    channelwise_case(check, Channelwise::kSwish, dtype, 4 * 64 * 33, 33, 64);
  }
}

void softmax_tests(Checker& check) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool log : {false, true}) {
      for (int64_t dim : {1, 31, 32, 33, 1000, 5000}) {
        for (int64_t outer : {int64_t(1), int64_t(3), rows_to_repeat(dim)}) {
          softmax_case(check, dtype, outer, dim, 1, log);  // rows
        }
        softmax_case(check, dtype, 2, dim, 3, log);  // columns
        softmax_case(check, dtype, 1, dim, 5, log);
      }
      softmax_case(check, dtype, 3, 33, 1500, log);  // columns past one grid
    }
  }
  for (at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    for (bool log : {false, true}) {
      for (int64_t cols : {3, 40, 1000, 5000}) {
        const Tensor x = extreme_values(dtype, 8, cols);
        softmax_case(check, dtype, 8, cols, 1, log, &x);  // along rows
        const Tensor xt = x.t().contiguous();
        softmax_case(check, dtype, 1, 8, cols, log, &xt);  // along columns
        const Tensor xc = xt.view({cols, 8, 1}).expand({cols, 8, 2}).contiguous();
        softmax_case(check, dtype, cols, 8, 2, log, &xc);  // columns, inner 2
      }
    }
  }
}

}  // namespace kernel_tests

int main(int argc, char** argv) {
  std::vector<std::string> schedules;
  bool stop_at_failure = false;  // a mutant needs one failing check to be caught
  std::string only;              // one group of tests
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--stop-at-first-failure") stop_at_failure = true;
    else if (arg.rfind("--only=", 0) == 0) only = arg.substr(7);
    else schedules.push_back(arg);
  }
  using Group = std::pair<const char*, void (*)(kernel_tests::Checker&)>;
  std::vector<Group> groups = {{"emulator", kernel_tests::emulator_tests},
                               {"pointwise", kernel_tests::pointwise_tests},
                               {"channelwise", kernel_tests::channelwise_tests},
                               {"softmax", kernel_tests::softmax_tests},
                               {"bias", kernel_tests::bias_tests}};
  if (!only.empty()) {
    std::vector<Group> chosen;
    for (const Group& g : groups)
      if (only == g.first) chosen.push_back(g);
    if (chosen.empty()) {
      std::fprintf(stderr, "--only=%s: not one of emulator, pointwise, channelwise, softmax, bias\n", only.c_str());
      return 2;
    }
    groups = chosen;
  }
  if (schedules.empty())
    schedules = {"round-robin", "greedy", "round-robin-reversed", "greedy-reversed"};
  // the references are small: OpenMP workers would only spin between them
  at::set_num_threads(1);
  kernel_tests::Checker check;
  for (const std::string& s : schedules) {
    cuda_emulation::Schedule schedule;
    if (!cuda_emulation::parse_schedule(s.c_str(), &schedule)) {
      std::fprintf(stderr, "unknown schedule '%s'\n", s.c_str());
      return 2;
    }
    cuda_emulation::set_schedule(schedule);
    at::manual_seed(0);
    const int before = check.failures;
    for (const Group& group : groups) {
      group.second(check);
      if (stop_at_failure && check.failures > 0) break;
    }
    std::printf("%s: %d failures\n", s.c_str(), check.failures - before);
    std::fflush(stdout);
    if (stop_at_failure && check.failures > 0) break;
  }
  std::printf("%d checks, %d failures\n", check.checks, check.failures);
  return check.failures == 0 ? 0 : 1;
}
