// CUDA kernels: one pointwise launcher for every activation (128-bit vector
// loads and stores, a scalar tail, 64-bit offsets, a grid sized to the GPU,
// the current stream), a channel-wise pair (PReLU, learnable Swish) and
// softmax row/column kernels. The math comes from activations.h.
//
// Launches are written TA_LAUNCH(...)(args) and dynamic shared memory
// TA_DYNAMIC_SHARED (launch.h): under nvcc exactly <<<...>>> and extern
// __shared__, and with the host compiler the CPU emulation of CUDA
// (emulation/), which runs these very kernels on CPU tensors in CI.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "../registration.h"
#include "launch.h"

namespace torch_activations {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // 16-byte packs in flight per thread

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <class T, int N>
struct Ptrs {
  const T* p[N];
};

template <class F, class T, int V>
__device__ __forceinline__ T apply_lane(const F& f, const Pack<T, V> (&in)[1], int j) {
  using Acc = at::opmath_type<T>;
  return T(f(Acc(in[0].v[j])));
}
template <class F, class T, int V>
__device__ __forceinline__ T apply_lane(const F& f, const Pack<T, V> (&in)[2], int j) {
  using Acc = at::opmath_type<T>;
  return T(f(Acc(in[0].v[j]), Acc(in[1].v[j])));
}

// out[i] = f(in[0][i], ...) over n elements. kVec elements per pack (16 bytes
// when every pointer is 16-byte aligned, else 1); each thread keeps kUnroll
// packs in flight; the n % kVec tail goes to the first threads of block 0.
template <int kVec, class T, int N, class F>
__global__ void __launch_bounds__(kThreads)
    pointwise_kernel(T* __restrict__ out, Ptrs<T, N> in, int64_t n, F f) {
  using P = Pack<T, kVec>;
  const int64_t n_packs = n / kVec;
  const int64_t tile = int64_t(kThreads) * kUnroll;
  for (int64_t base = int64_t(blockIdx.x) * tile; base < n_packs;
       base += int64_t(gridDim.x) * tile) {
    P src[kUnroll][N];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t p = base + u * kThreads + threadIdx.x;
      if (p < n_packs) {
#pragma unroll
        for (int k = 0; k < N; ++k) src[u][k] = reinterpret_cast<const P*>(in.p[k])[p];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t p = base + u * kThreads + threadIdx.x;
      if (p < n_packs) {
        P dst;
#pragma unroll
        for (int j = 0; j < kVec; ++j) dst.v[j] = apply_lane(f, src[u], j);
        reinterpret_cast<P*>(out)[p] = dst;
      }
    }
  }
  if (kVec > 1 && blockIdx.x == 0 && threadIdx.x < n - n_packs * kVec) {
    const int64_t i = n_packs * kVec + threadIdx.x;
    Pack<T, 1> src[N];
#pragma unroll
    for (int k = 0; k < N; ++k) src[k].v[0] = in.p[k][i];
    out[i] = apply_lane(f, src, 0);
  }
}

int max_resident_blocks(int threads) {
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  return prop->multiProcessorCount * (prop->maxThreadsPerMultiProcessor / threads);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T, class F, class... In>
void launch_pointwise(int64_t n, const F& f, T* out, const In*... in) {
  constexpr int N = sizeof...(In);
  constexpr int kVec = 16 / sizeof(T);
  const Ptrs<T, N> ptrs{{in...}};
  const bool vectorize = aligned16(out) && (aligned16(in) && ...);
  const int64_t work = vectorize ? n / kVec : n;
  const int64_t tiles = (work + int64_t(kThreads) * kUnroll - 1) / (int64_t(kThreads) * kUnroll);
  const int blocks = int(std::max<int64_t>(1, std::min<int64_t>(tiles, max_resident_blocks(kThreads))));
  auto stream = at::cuda::getCurrentCUDAStream();
  if (vectorize) {
    TA_LAUNCH(blocks, kThreads, 0, stream, pointwise_kernel<kVec>)(out, ptrs, n, f);
  } else {
    TA_LAUNCH(blocks, kThreads, 0, stream, pointwise_kernel<1>)(out, ptrs, n, f);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ------------------------------------------------------------ coded state

// One thread per byte of codes: the kPerByte elements it packs (saved="mask"
// or "uint8"; the codec is activations.h's, as on the CPU).
template <class T, class C>
__global__ void coded_forward_kernel(const T* x, T* y, uint8_t* codes, int64_t n, C codec) {
  using Acc = at::opmath_type<T>;
  const int64_t n_bytes = (n + C::kPerByte - 1) / C::kPerByte;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < n_bytes;
       b += int64_t(gridDim.x) * blockDim.x) {
    uint8_t byte = 0;
#pragma unroll
    for (int k = 0; k < C::kPerByte; ++k) {
      const int64_t i = b * C::kPerByte + k;
      if (i < n) {
        const Acc xv = Acc(x[i]);
        y[i] = T(codec.op.forward(xv));
        byte |= uint8_t(codec.encode(codec.op.backward(Acc(1), xv)) << (k * C::kBits));
      }
    }
    codes[b] = byte;
  }
}

template <class T, class C>
__global__ void coded_backward_kernel(const T* g, const uint8_t* codes, T* gx, int64_t n, C codec) {
  using Acc = at::opmath_type<T>;
  constexpr int kMask = (1 << C::kBits) - 1;
  const int64_t n_bytes = (n + C::kPerByte - 1) / C::kPerByte;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < n_bytes;
       b += int64_t(gridDim.x) * blockDim.x) {
    const int byte = codes[b];
#pragma unroll
    for (int k = 0; k < C::kPerByte; ++k) {
      const int64_t i = b * C::kPerByte + k;
      if (i < n) gx[i] = T(codec.decoded_backward(Acc(g[i]), codec.state((byte >> (k * C::kBits)) & kMask)));
    }
  }
}

// ------------------------------------------------------------------ gated

// x + bias rounded to the storage type T, as the composite rounds it.
template <class T>
struct RoundTo {
  __device__ __forceinline__ at::opmath_type<T> operator()(at::opmath_type<T> v) const {
    return at::opmath_type<T>(T(v));
  }
};

// bias_a and bias_b: the bias's halves, added to a and b (null: no bias).
template <class T, class G>
__global__ void gated_forward_kernel(const T* a, const T* b, const T* bias_a, const T* bias_b, T* y, GatedShape s,
                                     G gated) {
  using Acc = at::opmath_type<T>;
  const int64_t n = s.outer * s.len;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / s.len, col = i - row * s.len, at = row * s.stride + col;
    Acc av = Acc(a[at]), bv = Acc(b[at]);
    if (bias_a) {
      av = RoundTo<T>{}(av + Acc(bias_a[col]));
      bv = RoundTo<T>{}(bv + Acc(bias_b[col]));
    }
    y[i] = T(gated.forward(av, bv));
  }
}

template <class T, class G>
__global__ void gated_backward_kernel(const T* g, const T* a, const T* b, T* ga, T* gb, GatedShape s, G gated) {
  using Acc = at::opmath_type<T>;
  const int64_t n = s.outer * s.len;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / s.len, at = row * s.stride + (i - row * s.len);
    Acc da, db;
    gated.backward(Acc(g[i]), Acc(a[at]), Acc(b[at]), da, db);
    ga[at] = T(da);
    gb[at] = T(db);
  }
}

// ------------------------------------------------------------------- bias

// out = biased.forward(x, bias[col]) over rows of `cols` elements, kVec of
// them per pack (cols a multiple of kVec, every pointer 16-byte aligned).
template <int kVec, class T, class B>
__global__ void __launch_bounds__(kThreads)
    bias_forward_kernel(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y, int64_t n,
                        int64_t cols, B biased) {
  using Acc = at::opmath_type<T>;
  using P = Pack<T, kVec>;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < n / kVec;
       p += int64_t(gridDim.x) * blockDim.x) {
    const P xv = reinterpret_cast<const P*>(x)[p];
    const P bv = reinterpret_cast<const P*>(bias)[(p * kVec) % cols / kVec];
    P out;
#pragma unroll
    for (int j = 0; j < kVec; ++j) out.v[j] = T(biased.forward(Acc(xv.v[j]), Acc(bv.v[j])));
    reinterpret_cast<P*>(y)[p] = out;
  }
}

// Bias gradients: thread x of the grid is a column, blockIdx.y a chunk of
// rows; a thread writes its elements' gradients, neighbours neighbouring
// memory at every row, and leaves its column's sum over the chunk in
// partial[chunk * cols + col] (summed over the chunks afterwards, in a fixed
// order: no atomics, the same bits every run).
struct ColumnChunks {
  int64_t rows, cols, rows_per_chunk;
  __device__ int64_t col() const { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
  __device__ int64_t first() const { return int64_t(blockIdx.y) * rows_per_chunk; }
  __device__ int64_t last() const { return std::min(rows, first() + rows_per_chunk); }
};

template <class T, class B>
__global__ void bias_backward_kernel(const T* g, const T* saved, const T* bias, T* gx, at::opmath_type<T>* partial,
                                     ColumnChunks c, bool saved_output, B biased) {
  using Acc = at::opmath_type<T>;
  const int64_t col = c.col();
  if (col >= c.cols) return;
  const Acc b = Acc(bias[col]);
  Acc sum = Acc(0);
  for (int64_t r = c.first(); r < c.last(); ++r) {
    const int64_t i = r * c.cols + col;
    const Acc d = biased.backward(Acc(g[i]), Acc(saved[i]), b, saved_output);
    gx[i] = T(d);
    sum += d;
  }
  partial[blockIdx.y * c.cols + col] = sum;
}

// The split gated ops with a bias: a thread is a column of the halves.
template <class T, class G>
__global__ void gated_bias_backward_kernel(const T* g, const T* x, const T* bias, T* gx, at::opmath_type<T>* partial,
                                           ColumnChunks c, GatedShape s, G gated) {
  using Acc = at::opmath_type<T>;
  const int64_t col = c.col();
  if (col >= s.len) return;
  const Acc ba = Acc(bias[s.act_offset + col]), bb = Acc(bias[s.mul_offset + col]);
  Acc sum_a = Acc(0), sum_b = Acc(0);
  for (int64_t r = c.first(); r < c.last(); ++r) {
    const int64_t a_at = r * s.stride + s.act_offset + col, b_at = r * s.stride + s.mul_offset + col;
    Acc da, db;
    gated.backward(Acc(g[r * s.len + col]), RoundTo<T>{}(Acc(x[a_at]) + ba), RoundTo<T>{}(Acc(x[b_at]) + bb), da, db);
    gx[a_at] = T(da);
    gx[b_at] = T(db);
    sum_a += da;
    sum_b += db;
  }
  partial[blockIdx.y * s.stride + s.act_offset + col] = sum_a;
  partial[blockIdx.y * s.stride + s.mul_offset + col] = sum_b;
}

// ------------------------------------------------------------ channel-wise

template <class T, class Op>
__global__ void channelwise_forward_kernel(const T* x, const T* w, T* y, int64_t n,
                                           int64_t stride, int64_t channels, Op op) {
  using Acc = at::opmath_type<T>;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / stride) % channels;
    y[i] = T(op.forward(Acc(x[i]), Acc(w[c])));
  }
}

// Channels up to this count are summed in shared memory first.
constexpr int64_t kSharedChannels = 4096;

template <class T, class Op>
__global__ void channelwise_backward_kernel(const T* g, const T* x, const T* w, T* gx,
                                            at::opmath_type<T>* gw, int64_t n, int64_t stride,
                                            int64_t channels, Op op) {
  using Acc = at::opmath_type<T>;
  TA_DYNAMIC_SHARED(unsigned char, shared_bytes);
  Acc* block_sum = reinterpret_cast<Acc*>(shared_bytes);
  const bool use_shared = channels <= kSharedChannels;
  if (use_shared) {
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) block_sum[c] = Acc(0);
    __syncthreads();
  }
  auto flush = [&](int64_t c, Acc v) {
    atomicAdd(use_shared ? &block_sum[c] : &gw[c], v);
  };
  // A thread's running sum is flushed only when its channel changes.
  int64_t run_channel = -1;
  Acc run_sum = Acc(0);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / stride) % channels;
    const Acc gv = Acc(g[i]), xv = Acc(x[i]), wv = Acc(w[c]);
    gx[i] = T(op.grad_input(gv, xv, wv));
    if (c != run_channel) {
      if (run_channel >= 0) flush(run_channel, run_sum);
      run_channel = c;
      run_sum = Acc(0);
    }
    run_sum += op.grad_weight(gv, xv, wv);
  }
  if (run_channel >= 0) flush(run_channel, run_sum);
  if (use_shared) {
    __syncthreads();
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) atomicAdd(&gw[c], block_sum[c]);
  }
}

// ----------------------------------------------------------------- softmax

// Running max and sum of exp(x - max), combined in any order.
template <class Acc>
struct MaxSum {
  Acc max, sum;
};

// Starts at {-inf, 0}; -inf elements add nothing (exp(-inf - -inf) would be
// NaN for a thread whose elements so far are all -inf), NaN adds NaN, and a
// row whose maximum is infinite ends up NaN, all as torch gives them.
template <class Acc>
__device__ __forceinline__ void online_add(MaxSum<Acc>& a, Acc v) {
  if (v > a.max) {
    // exp(v - v) rather than 1, so an infinite maximum gives NaN as in torch
    a.sum = a.sum * math::exp(a.max - v) + math::exp(v - v);
    a.max = v;
  } else if (v != -std::numeric_limits<Acc>::infinity()) {
    a.sum += math::exp(v - a.max);
  }
}

template <class Acc>
__device__ __forceinline__ MaxSum<Acc> combine(MaxSum<Acc> a, MaxSum<Acc> b) {
  const Acc m = (a.max != a.max || a.max > b.max) ? a.max : b.max;
  const Acc sa = a.sum == Acc(0) ? Acc(0) : a.sum * math::exp(a.max - m);
  const Acc sb = b.sum == Acc(0) ? Acc(0) : b.sum * math::exp(b.max - m);
  return {m, sa + sb};
}

// Warp shuffles of a sum or of a MaxSum pair: xor (butterfly) or from one lane.
template <class Acc>
__device__ __forceinline__ Acc shfl(Acc a, int lane, bool xor_mode) {
  return xor_mode ? __shfl_xor_sync(0xffffffff, a, lane) : __shfl_sync(0xffffffff, a, lane);
}
template <class Acc>
__device__ __forceinline__ MaxSum<Acc> shfl(MaxSum<Acc> a, int lane, bool xor_mode) {
  return {shfl(a.max, lane, xor_mode), shfl(a.sum, lane, xor_mode)};
}
template <class Acc>
__device__ __forceinline__ MaxSum<Acc> combine(MaxSum<Acc> a, MaxSum<Acc> b, int) {
  return combine(a, b);
}
template <class Acc>
__device__ __forceinline__ Acc combine(Acc a, Acc b, int) {
  return a + b;
}

// Reduction over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. `shared` holds 32 values.
template <class R>
__device__ R block_reduce(R v, R* shared) {
#pragma unroll
  for (int m = 16; m > 0; m /= 2) v = combine(v, shfl(v, m, true), 0);
  const int warps = blockDim.x / 32, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (warps == 1) return v;
  __syncthreads();  // `shared` may still be read from the previous row
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = shared[lane < warps ? lane : 0];
#pragma unroll
  for (int m = 16; m > 0; m /= 2) {
    const R other = shfl(v, m, true);
    if ((lane ^ m) < warps && lane < warps) v = combine(v, other, 0);
  }
  return shfl(v, 0, false);
}

template <class T, bool kLog>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t dim_size) {
  using Acc = at::opmath_type<T>;
  __shared__ MaxSum<Acc> shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * dim_size;
    T* yr = y + row * dim_size;
    MaxSum<Acc> ms{-std::numeric_limits<Acc>::infinity(), Acc(0)};
    for (int64_t i = threadIdx.x; i < dim_size; i += blockDim.x) online_add(ms, Acc(xr[i]));
    ms = block_reduce(ms, shared);
    const Acc log_sum = math::log(ms.sum), scale = Acc(1) / ms.sum;
    for (int64_t i = threadIdx.x; i < dim_size; i += blockDim.x) {
      const Acc v = Acc(xr[i]);
      yr[i] = T(kLog ? (v - ms.max) - log_sum : math::exp_difference(v, ms.max) * scale);
    }
  }
}

// One thread per column (outer, inner): neighbouring threads read neighbouring
// memory at every step along the softmax dimension.
template <class T, bool kLog>
__global__ void softmax_columns_kernel(const T* x, T* y, int64_t outer, int64_t dim_size,
                                       int64_t inner) {
  using Acc = at::opmath_type<T>;
  for (int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; col < outer * inner;
       col += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * dim_size * inner + col % inner;
    MaxSum<Acc> ms{-std::numeric_limits<Acc>::infinity(), Acc(0)};
    for (int64_t d = 0; d < dim_size; ++d) online_add(ms, Acc(x[base + d * inner]));
    const Acc log_sum = math::log(ms.sum), scale = Acc(1) / ms.sum;
    for (int64_t d = 0; d < dim_size; ++d) {
      const Acc v = Acc(x[base + d * inner]);
      y[base + d * inner] = T(kLog ? (v - ms.max) - log_sum : math::exp_difference(v, ms.max) * scale);
    }
  }
}

// softmax: gx = y * (g - sum(g * y));  log_softmax: gx = g - exp(y) * sum(g)
template <class T, bool kLog>
__global__ void softmax_backward_rows_kernel(const T* g, const T* y, T* gx, int64_t rows,
                                             int64_t dim_size) {
  using Acc = at::opmath_type<T>;
  __shared__ Acc shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t off = row * dim_size;
    Acc s = Acc(0);
    for (int64_t i = threadIdx.x; i < dim_size; i += blockDim.x)
      s += kLog ? Acc(g[off + i]) : Acc(g[off + i]) * Acc(y[off + i]);
    s = block_reduce(s, shared);
    for (int64_t i = threadIdx.x; i < dim_size; i += blockDim.x) {
      const Acc gv = Acc(g[off + i]), yv = Acc(y[off + i]);
      gx[off + i] = T(kLog ? gv - math::exp(yv) * s : yv * (gv - s));
    }
  }
}

template <class T, bool kLog>
__global__ void softmax_backward_columns_kernel(const T* g, const T* y, T* gx, int64_t outer,
                                                int64_t dim_size, int64_t inner) {
  using Acc = at::opmath_type<T>;
  for (int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; col < outer * inner;
       col += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * dim_size * inner + col % inner;
    Acc s = Acc(0);
    for (int64_t d = 0; d < dim_size; ++d) {
      const int64_t i = base + d * inner;
      s += kLog ? Acc(g[i]) : Acc(g[i]) * Acc(y[i]);
    }
    for (int64_t d = 0; d < dim_size; ++d) {
      const int64_t i = base + d * inner;
      const Acc gv = Acc(g[i]), yv = Acc(y[i]);
      gx[i] = T(kLog ? gv - math::exp(yv) * s : yv * (gv - s));
    }
  }
}

// Threads per row: about 8 elements each, a multiple of 32, at most 1024.
int row_threads(int64_t dim_size) {
  int threads = 32;
  while (threads < 1024 && threads * 8 < dim_size) threads *= 2;
  return threads;
}

int grid_for(int64_t work, int threads) {
  return int(std::max<int64_t>(1, std::min<int64_t>((work + threads - 1) / threads,
                                                    max_resident_blocks(threads))));
}

// The grid of a column-sum kernel over `columns` threads a row: about two
// resident blocks' worth of chunks, partial sums of `width` per chunk.
struct ColumnGrid {
  ColumnChunks chunks;
  dim3 grid;
  Tensor partial;
  ColumnGrid(int64_t rows, int64_t columns, int64_t width, const Tensor& like, at::ScalarType acc) {
    const int64_t blocks_x = (columns + kThreads - 1) / kThreads;
    const int64_t n_chunks = std::clamp<int64_t>(2 * max_resident_blocks(kThreads) / blocks_x, 1, std::min<int64_t>(rows, 65535));
    chunks = {rows, columns, (rows + n_chunks - 1) / n_chunks};
    grid = dim3(unsigned(blocks_x), unsigned((rows + chunks.rows_per_chunk - 1) / chunks.rows_per_chunk));
    partial = at::empty({int64_t(grid.y), width}, like.options().dtype(acc));
  }
  Tensor sums() const { return partial.sum(0); }
};

}  // namespace

struct CudaBackend {
  static constexpr bool kComputes = true;

  template <template <class> class Op, class... P>
  static void forward(const Tensor& x, const Tensor& out, P... p) {
    const c10::cuda::CUDAGuard guard(x.device());
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      launch_pointwise(x.numel(), Forward<Op<Acc>>{Op<Acc>(p...)}, out.data_ptr<scalar_t>(),
                       x.const_data_ptr<scalar_t>());
    });
  }

  template <template <class> class Op, class... P>
  static void backward(const Tensor& g, const Tensor& saved, const Tensor& out, bool saved_output, P... p) {
    const c10::cuda::CUDAGuard guard(g.device());
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      launch_pointwise(g.numel(), Backward<Op<Acc>>{Op<Acc>(p...), saved_output}, out.data_ptr<scalar_t>(),
                       g.const_data_ptr<scalar_t>(), saved.const_data_ptr<scalar_t>());
    });
  }

  template <template <class> class Op, class... P>
  static void coded_forward(const Tensor& x, const Tensor& out, const Tensor& codes, P... p) {
    const c10::cuda::CUDAGuard guard(x.device());
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using C = Codec<Op, at::opmath_type<scalar_t>>;
      const int64_t n_bytes = codes.numel();
      TA_LAUNCH(grid_for(n_bytes, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream(),
                coded_forward_kernel)(x.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                      codes.data_ptr<uint8_t>(), x.numel(), C{typename C::Operation(p...)});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Op, class... P>
  static void coded_backward(const Tensor& g, const Tensor& codes, const Tensor& out, P... p) {
    const c10::cuda::CUDAGuard guard(g.device());
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using C = Codec<Op, at::opmath_type<scalar_t>>;
      const int64_t n_bytes = codes.numel();
      TA_LAUNCH(grid_for(n_bytes, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream(),
                coded_backward_kernel)(g.const_data_ptr<scalar_t>(), codes.const_data_ptr<uint8_t>(),
                                       out.data_ptr<scalar_t>(), g.numel(), C{typename C::Operation(p...)});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Op, class... P>
  static void bias_forward(const Tensor& x, const Tensor& bias, const Tensor& out, P... p) {
    const c10::cuda::CUDAGuard guard(x.device());
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using B = Biased<Op<at::opmath_type<scalar_t>>, RoundTo<scalar_t>>;
      constexpr int kVec = 16 / sizeof(scalar_t);
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* bp = bias.const_data_ptr<scalar_t>();
      scalar_t* yp = out.data_ptr<scalar_t>();
      const int64_t n = x.numel(), cols = bias.numel();
      const B biased{typename B::Operation(p...), {}};
      auto stream = at::cuda::getCurrentCUDAStream();
      if (cols % kVec == 0 && aligned16(xp) && aligned16(bp) && aligned16(yp)) {
        TA_LAUNCH(grid_for(n / kVec, kThreads), kThreads, 0, stream, bias_forward_kernel<kVec>)(xp, bp, yp, n, cols, biased);
      } else {
        TA_LAUNCH(grid_for(n, kThreads), kThreads, 0, stream, bias_forward_kernel<1>)(xp, bp, yp, n, cols, biased);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Op, class... P>
  static Tensor bias_backward(const Tensor& g, const Tensor& saved, const Tensor& bias, const Tensor& grad_x,
                              bool saved_output, P... p) {
    const c10::cuda::CUDAGuard guard(g.device());
    Tensor grad_bias;
    TA_DISPATCH_FLOATING(g.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      using B = Biased<Op<Acc>, RoundTo<scalar_t>>;
      const int64_t cols = bias.numel();
      const ColumnGrid c(g.numel() / cols, cols, cols, g, c10::CppTypeToScalarType<Acc>::value);
      TA_LAUNCH(c.grid, kThreads, 0, at::cuda::getCurrentCUDAStream(), bias_backward_kernel)(
          g.const_data_ptr<scalar_t>(), saved.const_data_ptr<scalar_t>(), bias.const_data_ptr<scalar_t>(),
          grad_x.data_ptr<scalar_t>(), c.partial.data_ptr<Acc>(), c.chunks, saved_output,
          B{typename B::Operation(p...), {}});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      grad_bias = c.sums();
    });
    return grad_bias;
  }

  template <template <class> class Act, class... P>
  static void gated_forward(const Tensor& act, const Tensor& mul, const Tensor& out, const GatedShape& s,
                            const Tensor& bias, P... p) {
    const c10::cuda::CUDAGuard guard(out.device());
    TA_DISPATCH_FLOATING(out.scalar_type(), Act<float>::name, [&] {
      using G = Gated<Act<at::opmath_type<scalar_t>>>;
      const scalar_t* bp = bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr;
      TA_LAUNCH(grid_for(s.outer * s.len, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream(),
                gated_forward_kernel)(act.const_data_ptr<scalar_t>() + s.act_offset,
                                      mul.const_data_ptr<scalar_t>() + s.mul_offset, bp ? bp + s.act_offset : nullptr,
                                      bp ? bp + s.mul_offset : nullptr, out.data_ptr<scalar_t>(), s,
                                      G{typename G::Operation(p...)});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Act, class... P>
  static Tensor gated_bias_backward(const Tensor& g, const Tensor& x, const Tensor& bias, const Tensor& grad_x,
                                    const GatedShape& s, P... p) {
    const c10::cuda::CUDAGuard guard(g.device());
    Tensor grad_bias;
    TA_DISPATCH_FLOATING(g.scalar_type(), Act<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      using G = Gated<Act<Acc>>;
      const ColumnGrid c(s.outer, s.len, s.stride, g, c10::CppTypeToScalarType<Acc>::value);
      TA_LAUNCH(c.grid, kThreads, 0, at::cuda::getCurrentCUDAStream(), gated_bias_backward_kernel)(
          g.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), bias.const_data_ptr<scalar_t>(),
          grad_x.data_ptr<scalar_t>(), c.partial.data_ptr<Acc>(), c.chunks, s, G{typename G::Operation(p...)});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      grad_bias = c.sums();
    });
    return grad_bias;
  }

  template <template <class> class Act, class... P>
  static void gated_backward(const Tensor& g, const Tensor& act, const Tensor& mul, const Tensor& grad_act,
                             const Tensor& grad_mul, const GatedShape& s, P... p) {
    const c10::cuda::CUDAGuard guard(g.device());
    TA_DISPATCH_FLOATING(g.scalar_type(), Act<float>::name, [&] {
      using G = Gated<Act<at::opmath_type<scalar_t>>>;
      TA_LAUNCH(grid_for(s.outer * s.len, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream(),
                gated_backward_kernel)(g.const_data_ptr<scalar_t>(), act.const_data_ptr<scalar_t>() + s.act_offset,
                                       mul.const_data_ptr<scalar_t>() + s.mul_offset,
                                       grad_act.data_ptr<scalar_t>() + s.act_offset,
                                       grad_mul.data_ptr<scalar_t>() + s.mul_offset, s,
                                       G{typename G::Operation(p...)});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Op>
  static void channelwise_forward(const Tensor& x, const Tensor& w, const Tensor& out,
                                  int64_t stride, int64_t channels) {
    const c10::cuda::CUDAGuard guard(x.device());
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      const int64_t n = x.numel();
      TA_LAUNCH(grid_for(n, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream(),
                channelwise_forward_kernel)(
          x.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
          n, stride, channels, Op<Acc>{});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  template <template <class> class Op>
  static Tensor channelwise_backward(const Tensor& g, const Tensor& x, const Tensor& w,
                                     const Tensor& grad_x, int64_t stride, int64_t channels) {
    const c10::cuda::CUDAGuard guard(x.device());
    Tensor grad_w;
    TA_DISPATCH_FLOATING(x.scalar_type(), Op<float>::name, [&] {
      using Acc = at::opmath_type<scalar_t>;
      grad_w = at::zeros({channels}, x.options().dtype(c10::CppTypeToScalarType<Acc>::value));
      const int64_t n = x.numel();
      const size_t shared = channels <= kSharedChannels ? channels * sizeof(Acc) : 0;
      TA_LAUNCH(grid_for(n, kThreads), kThreads, shared, at::cuda::getCurrentCUDAStream(),
                channelwise_backward_kernel)(
          g.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
          w.const_data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), grad_w.data_ptr<Acc>(), n,
          stride, channels, Op<Acc>{});
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    return grad_w;
  }

  static void softmax_forward(const Tensor& x, const Tensor& out, int64_t outer,
                              int64_t dim_size, int64_t inner, bool log) {
    const c10::cuda::CUDAGuard guard(x.device());
    auto stream = at::cuda::getCurrentCUDAStream();
    TA_DISPATCH_FLOATING(x.scalar_type(), "softmax", [&] {
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      scalar_t* yp = out.data_ptr<scalar_t>();
      if (inner == 1) {
        const int threads = row_threads(dim_size);
        const int blocks = int(std::min<int64_t>(outer, max_resident_blocks(threads)));
        if (log) TA_LAUNCH(blocks, threads, 0, stream, softmax_rows_kernel<scalar_t, true>)(xp, yp, outer, dim_size);
        else TA_LAUNCH(blocks, threads, 0, stream, softmax_rows_kernel<scalar_t, false>)(xp, yp, outer, dim_size);
      } else {
        const int blocks = grid_for(outer * inner, kThreads);
        if (log) TA_LAUNCH(blocks, kThreads, 0, stream, softmax_columns_kernel<scalar_t, true>)(xp, yp, outer, dim_size, inner);
        else TA_LAUNCH(blocks, kThreads, 0, stream, softmax_columns_kernel<scalar_t, false>)(xp, yp, outer, dim_size, inner);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }

  static void softmax_backward(const Tensor& g, const Tensor& y, const Tensor& grad_x,
                               int64_t outer, int64_t dim_size, int64_t inner, bool log) {
    const c10::cuda::CUDAGuard guard(g.device());
    auto stream = at::cuda::getCurrentCUDAStream();
    TA_DISPATCH_FLOATING(g.scalar_type(), "softmax", [&] {
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* yp = y.const_data_ptr<scalar_t>();
      scalar_t* gxp = grad_x.data_ptr<scalar_t>();
      if (inner == 1) {
        const int threads = row_threads(dim_size);
        const int blocks = int(std::min<int64_t>(outer, max_resident_blocks(threads)));
        if (log) TA_LAUNCH(blocks, threads, 0, stream, softmax_backward_rows_kernel<scalar_t, true>)(gp, yp, gxp, outer, dim_size);
        else TA_LAUNCH(blocks, threads, 0, stream, softmax_backward_rows_kernel<scalar_t, false>)(gp, yp, gxp, outer, dim_size);
      } else {
        const int blocks = grid_for(outer * inner, kThreads);
        if (log) TA_LAUNCH(blocks, kThreads, 0, stream, softmax_backward_columns_kernel<scalar_t, true>)(gp, yp, gxp, outer, dim_size, inner);
        else TA_LAUNCH(blocks, kThreads, 0, stream, softmax_backward_columns_kernel<scalar_t, false>)(gp, yp, gxp, outer, dim_size, inner);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
};

}  // namespace torch_activations

#if !defined(TA_CUDA_EMULATION)  // the emulation registers these for CPU tensors itself
TORCH_LIBRARY_IMPL(torch_activations, CUDA, m) {
  torch_activations::register_kernels<torch_activations::CudaBackend>(m);
}
#endif
