// CPU kernels: at::vec::Vectorized lanes, parallel over at::parallel_for.
//
// This file is compiled once per instruction set (register_default.cpp,
// register_avx2.cpp, register_avx512.cpp, each with its own -m flags and
// CPU_CAPABILITY); the Python package loads the one the CPU supports, and that
// library registers the CPU kernels. Everything lives in a namespace named
// after the instruction set so the three builds never share a symbol.
//
// Its registration with the dispatcher is in those three files.
#pragma once

#include "loops.h"

namespace torch_activations {
namespace CPU_CAPABILITY {

struct CpuBackend {
  static constexpr bool kComputes = true;

  template <template <class> class Op, class... P>
  static void forward(const Tensor& x, const Tensor& out, P... p) {
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const Forward<Op<Acc>> f{Op<Acc>(p...)};
      map_parallel(x.numel(), f, out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>());
    });
  }

  template <template <class> class Op, class... P>
  static void backward(const Tensor& g, const Tensor& saved, const Tensor& out, bool saved_output, P... p) {
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const Backward<Op<Acc>> f{Op<Acc>(p...), saved_output};
      map_parallel(g.numel(), f, out.data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                   saved.const_data_ptr<scalar_t>());
    });
  }

  // Coded saved state: blocks of kCodeBlock elements (a multiple of 8, so no
  // byte of codes straddles two tasks). Forward computes the output and the
  // derivative in lanes, the derivative into a buffer, then encodes it;
  // backward decodes each code's state into a buffer, then runs lanes.
  static constexpr int64_t kCodeBlock = 512;

  template <template <class> class Op, class... P>
  static void coded_forward(const Tensor& x, const Tensor& out, const Tensor& codes, P... p) {
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      using C = Codec<Op, Acc>;
      const C codec{Op<Acc>(p...)};
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      scalar_t* yp = out.data_ptr<scalar_t>();
      uint8_t* cp = codes.data_ptr<uint8_t>();
      const int64_t n = x.numel();
      at::parallel_for(0, (n + kCodeBlock - 1) / kCodeBlock, kGrain / kCodeBlock, [&](int64_t b0, int64_t b1) {
        alignas(64) Acc d[kCodeBlock];
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t begin = b * kCodeBlock, len = std::min(kCodeBlock, n - begin);
          for (int64_t i = 0; i < len; i += L::kStep) {
            const int64_t count = std::min(L::kStep, len - i);
            const auto v = L::load(xp + begin + i, count);
            typename L::Vecs y;
            for (int part = 0; part < L::kParts; ++part) {
              y[part] = codec.op.forward(v[part]);
              codec.op.backward(typename L::VecAcc(Acc(1)), v[part]).store(d + i + part * L::kPartSize);
            }
            L::store(yp + begin + i, y, count);
          }
          // codes into a local buffer first, then packed: a byte store may
          // alias anything, and would reload the codec on every element
          const C local = codec;
          alignas(64) uint8_t code[kCodeBlock] = {};
          for (int64_t j = 0; j < len; ++j) code[j] = local.encode(d[j]);
          uint8_t* bytes = cp + begin / C::kPerByte;
          for (int64_t j = 0; j < len; j += C::kPerByte) {
            uint8_t byte = 0;
            for (int k = 0; k < C::kPerByte; ++k) byte |= uint8_t(code[j + k] << (k * C::kBits));
            bytes[j / C::kPerByte] = byte;
          }
        }
      });
    });
  }

  template <template <class> class Op, class... P>
  static void coded_backward(const Tensor& g, const Tensor& codes, const Tensor& out, P... p) {
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      using C = Codec<Op, Acc>;
      const C codec{Op<Acc>(p...)};
      constexpr int kMask = (1 << C::kBits) - 1;
      std::array<Acc, kMask + 1> state;
      for (int c = 0; c <= kMask; ++c) state[c] = codec.state(c);
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const uint8_t* cp = codes.const_data_ptr<uint8_t>();
      scalar_t* gxp = out.data_ptr<scalar_t>();
      const int64_t n = g.numel();
      at::parallel_for(0, (n + kCodeBlock - 1) / kCodeBlock, kGrain / kCodeBlock, [&](int64_t b0, int64_t b1) {
        alignas(64) Acc s[kCodeBlock];
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t begin = b * kCodeBlock, len = std::min(kCodeBlock, n - begin);
          const uint8_t* bytes = cp + begin / C::kPerByte;
          for (int64_t j = 0; j < len; j += C::kPerByte) {
            const int byte = bytes[j / C::kPerByte];
            for (int k = 0; k < C::kPerByte; ++k) s[j + k] = state[(byte >> (k * C::kBits)) & kMask];
          }
          std::fill(s + len, s + std::min(kCodeBlock, (len + L::kStep - 1) / L::kStep * L::kStep), Acc(0));
          for (int64_t i = 0; i < len; i += L::kStep) {
            const int64_t count = std::min(L::kStep, len - i);
            const auto v = L::load(gp + begin + i, count);
            typename L::Vecs r;
            for (int part = 0; part < L::kParts; ++part) {
              r[part] = codec.decoded_backward(v[part], L::VecAcc::loadu(s + i + part * L::kPartSize));
            }
            L::store(gxp + begin + i, r, count);
          }
        }
      });
    });
  }

  // Rows of `len` elements, split into runs f(row, col, stop) over tasks of
  // kGrain elements, each run a plain vector loop.
  template <class F>
  static void for_each_row_run(int64_t rows, int64_t len, const F& f) {
    at::parallel_for(0, rows * len, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t row = i / len, col = i - row * len, stop = std::min(len, col + (end - i));
        f(row, col, stop);
        i += stop - col;
      }
    });
  }

  // Column sums of a gradient computed in blocks: rows_fn(r0, r1, c0, c1,
  // sums) writes columns [c0, c1) of rows [r0, r1) and adds them into sums
  // (the compute type) at c, and for groups == 2 (a gated op's halves) at
  // c + cols too.
  // Tasks are blocks of rows times blocks of columns, fixed by the shape
  // alone (so the sums do not depend on the thread count); a task adds
  // kFlushRows rows in the compute type, then into doubles, and the row
  // blocks' doubles are added last (a cost of kSumRowBlocks rows at most).
  // Column blocks are wide: a task that reads a few kilobytes of each row
  // starts a new page of every stream at every row, and the hardware
  // prefetchers, which stop at page boundaries, halve its bandwidth.
  // A row block has kSumBlockRows rows at least, so that its doubles (a
  // row's worth, added again at the end) cost little beside its rows.
  static constexpr int64_t kSumRowBlocks = 32, kSumBlockRows = 64, kSumColumns = 16384, kFlushRows = 32;

  template <class T, class Rows>
  static Tensor column_sums(int64_t rows, int64_t cols, int64_t groups, const at::TensorOptions& options,
                            const Rows& rows_fn) {
    using L = Lanes<T>;
    using Acc = typename L::Acc;
    const int64_t width = std::min(cols, kSumColumns), col_blocks = (cols + width - 1) / width;
    const int64_t tasks_wanted = (rows * cols * groups + kGrain - 1) / kGrain;
    const int64_t row_blocks = std::max<int64_t>(
        1, std::min({(tasks_wanted + col_blocks - 1) / col_blocks, rows / kSumBlockRows, kSumRowBlocks}));
    const int64_t per_block = (rows + row_blocks - 1) / row_blocks, sum_width = groups * cols;
    std::vector<double> partial(row_blocks * sum_width, 0.0);
    at::parallel_for(0, row_blocks * col_blocks, 1, [&](int64_t task_begin, int64_t task_end) {
      std::vector<Acc> sums(sum_width + L::kStep);  // a step of padding: accumulate stores whole steps
      for (int64_t task = task_begin; task < task_end; ++task) {
        const int64_t block = task / col_blocks, c0 = task % col_blocks * width, c1 = std::min(cols, c0 + width);
        double* total = partial.data() + block * sum_width;
        const int64_t end = std::min(rows, (block + 1) * per_block);
        for (int64_t first = block * per_block; first < end; first += kFlushRows) {
          for (int64_t g = 0; g < groups; ++g) std::fill(sums.begin() + g * cols + c0, sums.begin() + g * cols + c1, Acc(0));
          rows_fn(first, std::min(end, first + kFlushRows), c0, c1, sums.data());
          for (int64_t g = 0; g < groups; ++g)
            for (int64_t c = g * cols + c0; c < g * cols + c1; ++c) total[c] += double(sums[c]);
        }
      }
    });
    std::vector<double> total(partial.begin(), partial.begin() + sum_width);
    for (int64_t block = 1; block < row_blocks; ++block)
      for (int64_t c = 0; c < sum_width; ++c) total[c] += partial[block * sum_width + c];
    Tensor result = at::empty({sum_width}, options.dtype(c10::CppTypeToScalarType<Acc>::value));
    Acc* out = result.data_ptr<Acc>();
    for (int64_t c = 0; c < sum_width; ++c) out[c] = Acc(total[c]);
    return result;
  }

  template <template <class> class Op, class... P>
  static void bias_forward(const Tensor& x, const Tensor& bias, const Tensor& out, P... p) {
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const Biased<Op<Acc>, RoundTo<scalar_t>> biased{Op<Acc>(p...), {}};
      const int64_t cols = bias.numel();
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* bp = bias.const_data_ptr<scalar_t>();
      scalar_t* yp = out.data_ptr<scalar_t>();
      const StreamPlan<scalar_t> stream(x.numel(), yp);
      for_each_row_run(x.numel() / cols, cols, [&](int64_t row, int64_t col, int64_t stop) {
        map_range_streamed(stream(row * cols + col, row * cols + stop), col, stop,
                           [biased](auto xv, auto bv) { return biased.forward(xv, bv); }, NoEach{}, yp + row * cols,
                           xp + row * cols, bp);
      });
    });
  }

  template <template <class> class Op, class... P>
  static Tensor bias_backward(const Tensor& g, const Tensor& saved, const Tensor& bias, const Tensor& grad_x,
                              bool saved_output, P... p) {
    Tensor grad_bias;
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      const Biased<Op<Acc>, RoundTo<scalar_t>> biased{Op<Acc>(p...), {}};
      const int64_t cols = bias.numel();
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* sp = saved.const_data_ptr<scalar_t>();
      const scalar_t* bp = bias.const_data_ptr<scalar_t>();
      scalar_t* gxp = grad_x.data_ptr<scalar_t>();
      const StreamPlan<scalar_t> stream(g.numel(), gxp);
      // row by row through the loop every pointwise op runs, each step's
      // gradient (before rounding) added into the sums, which stay in L1
      grad_bias = column_sums<scalar_t>(g.numel() / cols, cols, 1, g.options(),
                                        [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, Acc* sums) {
        const auto add = [&](int64_t j, const typename L::Vecs& r, int64_t count) { L::accumulate(sums + j, r, count); };
        for (int64_t row = r0; row < r1; ++row) {
          const int64_t at = row * cols;
          map_range_streamed(
              stream(at + c0, at + c1), c0, c1,
              [biased, saved_output](auto gv, auto sv, auto bv) { return biased.backward(gv, sv, bv, saved_output); },
              add, gxp + at, gp + at, sp + at, bp);
        }
      });
    });
    return grad_bias;
  }

  // Gated ops: with a bias, its halves are added to a and b first.
  template <template <class> class Act, class... P>
  static void gated_forward(const Tensor& act, const Tensor& mul, const Tensor& out, const GatedShape& s,
                            const Tensor& bias, P... p) {
    TA_DISPATCH_FLOATING(out.scalar_type(), Act<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const Gated<Act<Acc>> gated{Act<Acc>(p...)};
      const scalar_t* ap = act.const_data_ptr<scalar_t>() + s.act_offset;
      const scalar_t* bp = mul.const_data_ptr<scalar_t>() + s.mul_offset;
      scalar_t* yp = out.data_ptr<scalar_t>();
      const StreamPlan<scalar_t> stream(out.numel(), yp);
      if (bias.defined()) {
        const scalar_t* bias_a = bias.const_data_ptr<scalar_t>() + s.act_offset;
        const scalar_t* bias_b = bias.const_data_ptr<scalar_t>() + s.mul_offset;
        const RoundTo<scalar_t> round;
        for_each_row_run(s.outer, s.len, [&](int64_t row, int64_t col, int64_t stop) {
          map_range_streamed(
              stream(row * s.len + col, row * s.len + stop), col, stop,
              [gated, round](auto a, auto ba, auto b, auto bb) { return gated.forward(round(a + ba), round(b + bb)); },
              NoEach{}, yp + row * s.len, ap + row * s.stride, bias_a, bp + row * s.stride, bias_b);
        });
        return;
      }
      for_each_row_run(s.outer, s.len, [&](int64_t row, int64_t col, int64_t stop) {
        map_range_streamed(stream(row * s.len + col, row * s.len + stop), col, stop,
                           [gated](auto a, auto b) { return gated.forward(a, b); }, NoEach{}, yp + row * s.len,
                           ap + row * s.stride, bp + row * s.stride);
      });
    });
  }

  template <template <class> class Act, class... P>
  static Tensor gated_bias_backward(const Tensor& g, const Tensor& x, const Tensor& bias, const Tensor& grad_x,
                                    const GatedShape& s, P... p) {
    Tensor grad_bias;
    TA_DISPATCH_FLOATING(g.scalar_type(), Act<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      const Gated<Act<Acc>> gated{Act<Acc>(p...)};
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* bias_a = bias.const_data_ptr<scalar_t>() + s.act_offset;
      const scalar_t* bias_b = bias.const_data_ptr<scalar_t>() + s.mul_offset;
      scalar_t* gxp = grad_x.data_ptr<scalar_t>();
      const RoundTo<scalar_t> round;
      const StreamPlan<scalar_t> stream(grad_x.numel(), gxp);
      grad_bias = column_sums<scalar_t>(s.outer, s.len, 2, g.options(),
                                        [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, Acc* sums) {
        for (int64_t row = r0; row < r1; ++row) {
          const int64_t o = row * s.len;
          const int64_t a_at = row * s.stride + s.act_offset, b_at = row * s.stride + s.mul_offset;
          const bool sa = stream(a_at + c0, a_at + c1), sb = stream(b_at + c0, b_at + c1);
          for (int64_t j = c0; j < c1; j += L::kStep) {
            const int64_t count = std::min(L::kStep, c1 - j);
            const auto gv = L::load(gp + o + j, count), av = L::load(xp + a_at + j, count),
                       bv = L::load(xp + b_at + j, count), bav = L::load(bias_a + j, count),
                       bbv = L::load(bias_b + j, count);
            typename L::Vecs ra, rb;
            for (int part = 0; part < L::kParts; ++part)
              gated.backward(gv[part], round(av[part] + bav[part]), round(bv[part] + bbv[part]), ra[part], rb[part]);
            store_step(sa, gxp + a_at + j, ra, count);
            store_step(sb, gxp + b_at + j, rb, count);
            L::accumulate(sums + s.act_offset + j, ra, count);
            L::accumulate(sums + s.mul_offset + j, rb, count);
          }
          if (sa || sb) stream_fence();
        }
      });
    });
    return grad_bias;
  }

  template <template <class> class Act, class... P>
  static void gated_backward(const Tensor& g, const Tensor& act, const Tensor& mul, const Tensor& grad_act,
                             const Tensor& grad_mul, const GatedShape& s, P... p) {
    TA_DISPATCH_FLOATING(g.scalar_type(), Act<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      const Gated<Act<Acc>> gated{Act<Acc>(p...)};
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* ap = act.const_data_ptr<scalar_t>() + s.act_offset;
      const scalar_t* bp = mul.const_data_ptr<scalar_t>() + s.mul_offset;
      scalar_t* gap = grad_act.data_ptr<scalar_t>() + s.act_offset;
      scalar_t* gbp = grad_mul.data_ptr<scalar_t>() + s.mul_offset;
      const StreamPlan<scalar_t> stream_act(grad_act.numel(), grad_act.data_ptr<scalar_t>());
      const StreamPlan<scalar_t> stream_mul(grad_mul.numel(), grad_mul.data_ptr<scalar_t>());
      for_each_row_run(s.outer, s.len, [&](int64_t row, int64_t col, int64_t stop) {
        const int64_t in = row * s.stride, o = row * s.len;
        const bool sa = stream_act(s.act_offset + in + col, s.act_offset + in + stop),
                   sb = stream_mul(s.mul_offset + in + col, s.mul_offset + in + stop);
        for (int64_t j = col; j < stop; j += L::kStep) {
          const int64_t count = std::min(L::kStep, stop - j);
          const auto gv = L::load(gp + o + j, count), av = L::load(ap + in + j, count), bv = L::load(bp + in + j, count);
          typename L::Vecs ra, rb;
          for (int part = 0; part < L::kParts; ++part) gated.backward(gv[part], av[part], bv[part], ra[part], rb[part]);
          store_step(sa, gap + in + j, ra, count);
          store_step(sb, gbp + in + j, rb, count);
        }
        if (sa || sb) stream_fence();
      });
    });
  }

  // Elements sharing a channel come in runs of `stride` consecutive offsets,
  // so each run is a plain vector loop with the channel's weight broadcast.
  template <template <class> class Op>
  static void channelwise_forward(const Tensor& x, const Tensor& w, const Tensor& out,
                                  int64_t stride, int64_t channels) {
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const Op<Acc> op{};
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* wp = w.const_data_ptr<scalar_t>();
      scalar_t* yp = out.data_ptr<scalar_t>();
      at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end;) {
          const int64_t run = i / stride, run_end = std::min(end, (run + 1) * stride);
          const Acc wc = Acc(wp[run % channels]);
          map_range(i, run_end, [op, wc](auto xv) { return op.forward(xv, decltype(xv)(wc)); }, yp, xp);
          i = run_end;
        }
      });
    });
  }

  // One pass: grad_x written, grad_w summed per task and channel, then added.
  template <template <class> class Op>
  static Tensor channelwise_backward(const Tensor& g, const Tensor& x, const Tensor& w,
                                     const Tensor& grad_x, int64_t stride, int64_t channels) {
    Tensor grad_w;
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using L = Lanes<scalar_t>;
      using Acc = typename L::Acc;
      const Op<Acc> op{};
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* wp = w.const_data_ptr<scalar_t>();
      scalar_t* gxp = grad_x.data_ptr<scalar_t>();
      const int64_t n = x.numel();
      const int64_t tasks = std::max<int64_t>(1, (n + kGrain - 1) / kGrain);
      std::vector<double> partial(tasks * channels, 0.0);
      at::parallel_for(0, tasks, 1, [&](int64_t task_begin, int64_t task_end) {
        for (int64_t task = task_begin; task < task_end; ++task) {
          const int64_t end = std::min(n, (task + 1) * kGrain);
          for (int64_t i = task * kGrain; i < end;) {
            const int64_t run = i / stride, run_end = std::min(end, (run + 1) * stride);
            const int64_t c = run % channels;
            const auto wv = typename L::VecAcc(Acc(wp[c]));
            typename L::VecAcc sum(Acc(0));
            for (int64_t j = i; j < run_end; j += L::kStep) {
              const int64_t count = std::min(L::kStep, run_end - j);
              const auto gv = L::load(gp + j, count), xv = L::load(xp + j, count);
              typename L::Vecs r;
              for (int part = 0; part < L::kParts; ++part) {
                r[part] = op.grad_input(gv[part], xv[part], wv);
                sum = sum + L::masked(op.grad_weight(gv[part], xv[part], wv), part, count, Acc(0));
              }
              L::store(gxp + j, r, count);
            }
            partial[task * channels + c] +=
                double(reduce_lanes(sum, [](Acc a, Acc b) { return a + b; }));
            i = run_end;
          }
        }
      });
      std::vector<double> total(channels, 0.0);
      for (int64_t task = 0; task < tasks; ++task)
        for (int64_t c = 0; c < channels; ++c) total[c] += partial[task * channels + c];
      grad_w = at::empty({channels}, x.options().dtype(c10::CppTypeToScalarType<Acc>::value));
      Acc* out = grad_w.data_ptr<Acc>();
      for (int64_t c = 0; c < channels; ++c) out[c] = Acc(total[c]);
    });
    return grad_w;
  }

  // Softmax over rows (inner == 1: vectors along the row, then one horizontal
  // reduction) or over columns (inner > 1: each lane is its own column, so
  // vectors run across `inner` and the reduction needs no horizontal step).
  static void softmax_forward(const Tensor& x, const Tensor& out, int64_t outer,
                              int64_t dim_size, int64_t inner, bool log) {
    TA_DISPATCH_FLOATING(x.scalar_type(), "softmax", [&] {
      softmax_forward_impl(x.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), outer,
                           dim_size, inner, log);
    });
  }

  static void softmax_backward(const Tensor& g, const Tensor& y, const Tensor& grad_x,
                               int64_t outer, int64_t dim_size, int64_t inner, bool log) {
    TA_DISPATCH_FLOATING(g.scalar_type(), "softmax", [&] {
      softmax_backward_impl(g.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(),
                            grad_x.data_ptr<scalar_t>(), outer, dim_size, inner, log);
    });
  }

  // Each softmax line: `dim_size` elements `inner` apart, handled `lanes` at
  // a time (one line per lane for columns; for rows one line, lanes along it).
  template <class T>
  static void softmax_forward_impl(const T* x, T* y, int64_t outer, int64_t dim_size,
                                   int64_t inner, bool log) {
    using L = Lanes<T>;
    using Acc = typename L::Acc;
    using VecAcc = typename L::VecAcc;
    const Acc kNegInf = -std::numeric_limits<Acc>::infinity();
    if (inner == 1) {
      const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(dim_size, 1));
      at::parallel_for(0, outer, grain, [&](int64_t begin, int64_t end) {
        // 16-bit rows keep exp(x - max) in float (whole steps), not in the
        // output, so it is computed once and never rounded twice
        std::vector<Acc> exps(L::kReduced && !log ? (dim_size + L::kStep - 1) / L::kStep * L::kStep : 0);
        for (int64_t row = begin; row < end; ++row) {
          const T* xr = x + row * dim_size;
          T* yr = y + row * dim_size;
          const VecAcc vmax = reduce_row<T>(
              dim_size, kNegInf, [](const VecAcc& v) { return v; },
              [](const VecAcc& a, const VecAcc& b) { return at::vec::maximum(a, b); }, xr);
          const Acc max = reduce_lanes(vmax, [](Acc a, Acc b) { return a != a || a > b ? a : b; });
          VecAcc vsum(Acc(0));
          for (int64_t i = 0; i < dim_size; i += L::kStep) {
            const int64_t count = std::min(L::kStep, dim_size - i);
            const auto v = L::load(xr + i, count);
            typename L::Vecs e;
            for (int part = 0; part < L::kParts; ++part) {
              // the output keeps exp's accuracy; the sum needs no more than exp
              e[part] = log ? math::exp_nonpositive(v[part] - VecAcc(max)) : math::exp_difference(v[part], VecAcc(max));
              vsum = vsum + L::masked(e[part], part, count, Acc(0));
            }
            if (log) continue;
            if constexpr (L::kReduced) {
              for (int part = 0; part < L::kParts; ++part) e[part].store(exps.data() + i + part * L::kPartSize);
            } else {
              L::store(yr + i, e, count);  // reused below
            }
          }
          const Acc sum = reduce_lanes(vsum, [](Acc a, Acc b) { return a + b; });
          // (x - max) - log(sum), not x - (max + log(sum)): max + log(sum)
          // rounds away log(sum) when |max| is large
          const Acc log_sum = std::log(sum), scale = Acc(1) / sum;
          if (L::kReduced && !log) {
            for (int64_t i = 0; i < dim_size; i += L::kStep) {
              typename L::Vecs r;
              for (int part = 0; part < L::kParts; ++part)
                r[part] = VecAcc::loadu(exps.data() + i + part * L::kPartSize) * VecAcc(scale);
              L::store(yr + i, r, std::min(L::kStep, dim_size - i));
            }
            continue;
          }
          map_range(0, dim_size, [&](auto v) {
            using V = decltype(v);
            return log ? (v - V(max)) - V(log_sum) : v * V(scale);
          }, yr, log ? xr : yr);
        }
      });
      return;
    }
    for_each_column_block<L>(outer, dim_size, inner, [&](int64_t off, int64_t count) {
      const T* xc = x + off;
      T* yc = y + off;
      typename L::Vecs vmax, vsum;
      vmax.fill(VecAcc(kNegInf));
      vsum.fill(VecAcc(Acc(0)));
      for (int64_t d = 0; d < dim_size; ++d) {
        const auto v = L::load(xc + d * inner, count);
        for (int part = 0; part < L::kParts; ++part) vmax[part] = at::vec::maximum(vmax[part], v[part]);
      }
      for (int64_t d = 0; d < dim_size; ++d) {
        const auto v = L::load(xc + d * inner, count);
        for (int part = 0; part < L::kParts; ++part) vsum[part] = vsum[part] + math::exp_nonpositive(v[part] - vmax[part]);
      }
      typename L::Vecs log_sum, scale;
      for (int part = 0; part < L::kParts; ++part) {
        log_sum[part] = vsum[part].log();
        scale[part] = VecAcc(Acc(1)) / vsum[part];
      }
      for (int64_t d = 0; d < dim_size; ++d) {
        const auto v = L::load(xc + d * inner, count);
        typename L::Vecs r;
        for (int part = 0; part < L::kParts; ++part)
          r[part] = log ? (v[part] - vmax[part]) - log_sum[part]
                        : math::exp_difference(v[part], vmax[part]) * scale[part];
        L::store(yc + d * inner, r, count);
      }
    });
  }

  // softmax:     grad_x = y * (g - sum(g * y))
  // log_softmax: grad_x = g - exp(y) * sum(g)
  template <class T>
  static void softmax_backward_impl(const T* g, const T* y, T* gx, int64_t outer,
                                    int64_t dim_size, int64_t inner, bool log) {
    using L = Lanes<T>;
    using Acc = typename L::Acc;
    using VecAcc = typename L::VecAcc;
    auto term = [log](const VecAcc& gv, const VecAcc& yv) { return log ? gv : gv * yv; };
    auto result = [log](const VecAcc& gv, const VecAcc& yv, const VecAcc& s) {
      return log ? gv - math::exp(yv) * s : yv * (gv - s);
    };
    if (inner == 1) {
      const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(dim_size, 1));
      at::parallel_for(0, outer, grain, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t off = row * dim_size;
          const VecAcc vsum = reduce_row<T>(
              dim_size, Acc(0), term, [](const VecAcc& a, const VecAcc& b) { return a + b; }, g + off, y + off);
          const VecAcc s(reduce_lanes(vsum, [](Acc a, Acc b) { return a + b; }));
          map_range(0, dim_size, [&](auto gv, auto yv) { return result(gv, yv, s); }, gx + off,
                    g + off, y + off);
        }
      });
      return;
    }
    for_each_column_block<L>(outer, dim_size, inner, [&](int64_t off, int64_t count) {
      typename L::Vecs vsum;
      vsum.fill(VecAcc(Acc(0)));
      for (int64_t d = 0; d < dim_size; ++d) {
        const auto gv = L::load(g + off + d * inner, count), yv = L::load(y + off + d * inner, count);
        for (int part = 0; part < L::kParts; ++part) vsum[part] = vsum[part] + term(gv[part], yv[part]);
      }
      for (int64_t d = 0; d < dim_size; ++d) {
        const auto gv = L::load(g + off + d * inner, count), yv = L::load(y + off + d * inner, count);
        typename L::Vecs r;
        for (int part = 0; part < L::kParts; ++part) r[part] = result(gv[part], yv[part], vsum[part]);
        L::store(gx + off + d * inner, r, count);
      }
    });
  }

  // Softmax over columns: f(offset, count) for each block of `count` <=
  // L::kStep adjacent columns of one outer slice, the blocks split among
  // threads whole (each column's sum in one task, whatever the thread count).
  template <class L, class F>
  static void for_each_column_block(int64_t outer, int64_t dim_size, int64_t inner, const F& f) {
    const int64_t blocks = (inner + L::kStep - 1) / L::kStep;
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(dim_size * L::kStep, 1));
    at::parallel_for(0, outer * blocks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t o = task / blocks, j = (task % blocks) * L::kStep;
        f(o * dim_size * inner + j, std::min(L::kStep, inner - j));
      }
    });
  }
};

}  // namespace CPU_CAPABILITY
}  // namespace torch_activations
