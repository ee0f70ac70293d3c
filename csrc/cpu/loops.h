// The loops every CPU kernel is built of: lanes of at::vec::Vectorized (16-bit
// types in float), streaming stores, maps over a range and reductions over a
// row, all in a namespace named after the instruction set.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif


#include "../registration.h"

namespace torch_activations {
namespace CPU_CAPABILITY {

using at::vec::Vectorized;

// Elements per task of at::parallel_for: large enough to amortise waking a
// thread, small enough to split an 8M-element tensor into many tasks.
constexpr int64_t kGrain = 32768;

// A whole vector stored past the caches (p aligned to the vector's size):
// an output much larger than the last-level cache is evicted before anyone
// reads it, and a plain store would first read each line in (a third of the
// traffic of a map from one input). The default build stores normally.
constexpr int64_t kVecBytes = Vectorized<float>::size() * sizeof(float);
template <class T>
inline void stream_store(T* p, const Vectorized<T>& v) {
#if defined(CPU_CAPABILITY_AVX512)
  __m512i bits;
  std::memcpy(&bits, &v, sizeof bits);
  _mm512_stream_si512(reinterpret_cast<__m512i*>(p), bits);
#elif defined(CPU_CAPABILITY_AVX2)
  __m256i bits;
  std::memcpy(&bits, &v, sizeof bits);
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), bits);
#else
  v.store(p);
#endif
}
inline void stream_fence() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();  // streaming stores are weakly ordered: publish them before the task ends
#endif
}

// One step of every loop below: Vectorized<T>::size() elements of storage type
// T, seen as kParts vectors of the compute type (two float vectors for half
// and bfloat16, one vector otherwise). Loads and stores take a count so the
// tail runs through the very same code.
template <class T>
struct Lanes {
  using Acc = at::opmath_type<T>;
  using VecAcc = Vectorized<Acc>;
  static constexpr bool kReduced = !std::is_same_v<T, Acc>;
  static constexpr int kParts = kReduced ? 2 : 1;
  static constexpr int64_t kStep = Vectorized<T>::size();
  static constexpr int64_t kPartSize = VecAcc::size();
  using Vecs = std::array<VecAcc, kParts>;

  static Vecs load(const T* p, int64_t count) {
    auto v = count == kStep ? Vectorized<T>::loadu(p) : Vectorized<T>::loadu(p, count);
    if constexpr (kReduced) {
      auto [lo, hi] = at::vec::convert_to_float<T>(v);
      return {lo, hi};
    } else {
      return {v};
    }
  }
  // kExact: r holds values exact in T (a 16-bit input's own value, 0, 6):
  // bfloat16 keeps their upper halves, without the rounding that costs a
  // dozen instructions a vector.
  template <bool kStream = false, bool kExact = false>
  static void store(T* p, const Vecs& r, int64_t count) {
    Vectorized<T> v;
    if constexpr (kReduced) {
      if constexpr (kExact && std::is_same_v<T, c10::BFloat16>) v = upper_halves(r[0], r[1]);
      else v = at::vec::convert_from_float<T>(r[0], r[1]);
    } else {
      v = r[0];
    }
    if constexpr (kStream) stream_store(p, v);
    else if (count == kStep) v.store(p);
    else v.store(p, count);
  }
  static Vectorized<T> upper_halves(const VecAcc& lo, const VecAcc& hi) {
#if defined(CPU_CAPABILITY_AVX512)
    const __m256i l = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(lo), 16));
    const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(hi), 16));
    return _mm512_inserti64x4(_mm512_castsi256_si512(l), h, 1);
#elif defined(CPU_CAPABILITY_AVX2)
    const __m256i l = _mm256_srli_epi32(_mm256_castps_si256(lo), 16);
    const __m256i h = _mm256_srli_epi32(_mm256_castps_si256(hi), 16);
    return _mm256_permute4x64_epi64(_mm256_packus_epi32(l, h), 0xd8);  // packs per 128-bit lane
#else
    return at::vec::convert_from_float<T>(lo, hi);  // exact values: the rounding changes nothing
#endif
  }
  // Lanes past `count` replaced by `fill` (for reductions over a tail).
  static VecAcc masked(const VecAcc& v, int part, int64_t count, Acc fill) {
    const int64_t valid = count - part * kPartSize;
    if (valid >= kPartSize) return v;
    if (valid <= 0) return VecAcc(fill);
    return VecAcc::set(VecAcc(fill), v, valid);
  }
  // sums[0, count) += r (sums holds a whole step).
  static void accumulate(Acc* sums, const Vecs& r, int64_t count) {
    for (int part = 0; part < kParts; ++part) {
      Acc* p = sums + part * kPartSize;
      (VecAcc::loadu(p) + masked(r[part], part, count, Acc(0))).store(p);
    }
  }
};

// A compute-type vector rounded to storage type T (x + bias, as the
// composite rounds it); nothing to do where T is the compute type.
template <class T>
struct RoundTo {
  template <class V>
  V operator()(const V& v) const {
    if constexpr (Lanes<T>::kReduced) {
      return std::get<0>(at::vec::convert_to_float<T>(at::vec::convert_from_float<T>(v, v)));
    } else {
      return v;
    }
  }
};

// out[i..i+count) = f(in[i..i+count)...) for count <= one step, then
// each(i, r, count) with r the step's results in the compute type.
template <bool kStream = false, class T, class F, class Each, class... In>
inline void map_step(int64_t i, int64_t count, const F& f, const Each& each, T* out, const In*... in) {
  using L = Lanes<T>;
  std::array<typename L::Vecs, sizeof...(In)> v{L::load(in + i, count)...};
  typename L::Vecs r;
  for (int part = 0; part < L::kParts; ++part) {
    r[part] = std::apply([&](const auto&... vi) { return f(vi[part]...); }, v);
  }
  L::template store<kStream, kExactResults<F>>(out + i, r, count);  // functors.h
  each(i, r, count);
}

struct NoEach {
  template <class R>
  void operator()(int64_t, const R&, int64_t) const {}
};

// out[i] = f(in[i]...) for i in [begin, end), each step's results also
// handed to each (a bias gradient's column sums): two full steps per
// iteration (independent work for the out-of-order core), then the tail.
// Streaming stores need aligned vectors: a partial step first brings out + i
// there. flatten: the whole loop body inlined, whatever GCC's size
// heuristics say. f is copied first: a vector store may alias any memory,
// so parameters read through a reference (leaky_relu's slope, gelu's form)
// would be loaded and broadcast again after every store; the copy's are not.
template <bool kStream = false, class T, class F, class Each, class... In>
__attribute__((flatten)) inline void map_range_each(int64_t begin, int64_t end, const F& f_in, const Each& each,
                                                    T* out, const In*... in) {
  const F f = f_in;
  constexpr int64_t kStep = Lanes<T>::kStep;
  int64_t i = begin;
  if constexpr (kStream) {
    const auto misaligned = reinterpret_cast<uintptr_t>(out + i) % kVecBytes;
    const int64_t head = misaligned ? int64_t(kVecBytes - misaligned) / int64_t(sizeof(T)) : 0;
    if (head > 0) {
      map_step(i, std::min(head, end - i), f, each, out, in...);
      i = std::min(end, i + head);
    }
  }
  for (; i + 2 * kStep <= end; i += 2 * kStep) {
    map_step<kStream>(i, kStep, f, each, out, in...);
    map_step<kStream>(i + kStep, kStep, f, each, out, in...);
  }
  for (; i < end; i += kStep) map_step(i, std::min(kStep, end - i), f, each, out, in...);
  if constexpr (kStream) stream_fence();
}

template <bool kStream = false, class T, class F, class... In>
__attribute__((flatten)) inline void map_range(int64_t begin, int64_t end, const F& f, T* out, const In*... in) {
  map_range_each<kStream>(begin, end, f, NoEach{}, out, in...);
}

// Outputs of at least this many bytes are written with streaming stores.
constexpr int64_t kStreamBytes = int64_t(16) << 20;

// Which parts of an output are written with streaming stores. A streaming
// store saves reading the line in first where the memory is already the
// process's; into a page not yet faulted in it costs more than a plain store,
// since the kernel has just zeroed that page through the cache (glibc's malloc
// maps large blocks fresh on every allocation). So where the system says
// (mincore, once per call), a range streams only over resident pages: its
// first and its last (glibc writes a chunk header into the first page of every
// fresh block, so the first page alone says nothing).
template <class T>
class StreamPlan {
 public:
  StreamPlan(int64_t n, const T* out) : out_(out) {
    if (n * int64_t(sizeof(T)) < kStreamBytes || reinterpret_cast<uintptr_t>(out) % sizeof(T) != 0) return;
    streams_ = true;
#if defined(__linux__) && (defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2))
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    first_page_ = reinterpret_cast<uintptr_t>(out) & ~(page - 1);
    const uintptr_t end = reinterpret_cast<uintptr_t>(out + n);
    resident_.resize((end - first_page_ + page - 1) / page);
    if (mincore(reinterpret_cast<void*>(first_page_), end - first_page_, resident_.data()) == 0) page_ = page;
    else resident_.clear();  // not known: stream everywhere
#endif
  }
  // Whether any range may stream.
  bool any() const { return streams_; }
  // Whether out[begin, end) streams (end > begin).
  bool operator()(int64_t begin, int64_t end) const {
    if (!streams_ || page_ == 0) return streams_;
    return resident(begin) && resident(end - 1);
  }

 private:
  bool resident(int64_t i) const {
    const size_t index = (reinterpret_cast<uintptr_t>(out_ + i) - first_page_) / page_;
    return index < resident_.size() && (resident_[index] & 1);
  }
  const T* out_;
  bool streams_ = false;
  uintptr_t first_page_ = 0, page_ = 0;
  std::vector<unsigned char> resident_;
};

// map_range_each with streaming stores where stream (from a StreamPlan) says.
template <class T, class F, class Each, class... In>
inline void map_range_streamed(bool stream, int64_t begin, int64_t end, const F& f, const Each& each, T* out,
                               const In*... in) {
  if (stream) map_range_each<true>(begin, end, f, each, out, in...);
  else map_range_each<false>(begin, end, f, each, out, in...);
}

// One step of results stored at p: past the caches where stream says and p
// holds a whole aligned vector, plainly otherwise (heads, tails, odd rows);
// for loops that write two outputs, which map_range_streamed cannot align
// both of. The caller fences (stream_fence) before its task ends.
template <class T>
inline void store_step(bool stream, T* p, const typename Lanes<T>::Vecs& r, int64_t count) {
  if (stream && count == Lanes<T>::kStep && reinterpret_cast<uintptr_t>(p) % kVecBytes == 0)
    Lanes<T>::template store<true>(p, r, count);
  else
    Lanes<T>::store(p, r, count);
}

template <class T, class F, class... In>
void map_parallel(int64_t n, const F& f, T* out, const In*... in) {
  const StreamPlan<T> stream(n, out);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    if (!stream.any()) return map_range(begin, end, f, out, in...);
    // a task's range may span resident and fresh pages: decided a grain at a time
    for (int64_t b = begin; b < end; b += kGrain) {
      const int64_t e = std::min(end, b + kGrain);
      map_range_streamed(stream(b, e), b, e, f, NoEach{}, out, in...);
    }
  });
}

// combine(...combine(fill, term(in[0])), ..., term(in[n-1])) over a row, as a
// vector of partial results: four independent chains over whole steps (one
// chain would wait on each combine's latency), then the tail into the first.
template <class T, class Term, class Combine, class... In>
inline typename Lanes<T>::VecAcc reduce_row(int64_t n, typename Lanes<T>::Acc fill, const Term& term,
                                            const Combine& combine, const In*... in) {
  using L = Lanes<T>;
  using VecAcc = typename L::VecAcc;
  constexpr int kChains = 4;
  std::array<VecAcc, kChains> acc;
  acc.fill(VecAcc(fill));
  int64_t i = 0;
  for (; i + kChains * L::kStep <= n; i += kChains * L::kStep) {
    for (int c = 0; c < kChains; ++c) {
      const std::array<typename L::Vecs, sizeof...(In)> v{L::load(in + i + c * L::kStep, L::kStep)...};
      for (int part = 0; part < L::kParts; ++part)
        acc[c] = combine(acc[c], std::apply([&](const auto&... vi) { return term(vi[part]...); }, v));
    }
  }
  for (; i < n; i += L::kStep) {
    const int64_t count = std::min(L::kStep, n - i);
    const std::array<typename L::Vecs, sizeof...(In)> v{L::load(in + i, count)...};
    for (int part = 0; part < L::kParts; ++part) {
      const VecAcc t = std::apply([&](const auto&... vi) { return term(vi[part]...); }, v);
      acc[0] = combine(acc[0], L::masked(t, part, count, fill));
    }
  }
  return combine(combine(acc[0], acc[1]), combine(acc[2], acc[3]));
}

// Horizontal reduction of one vector, pairwise: a sum of its lanes rounds
// log2(lanes) times in a row rather than lanes - 1 (log_softmax's log(sum)).
template <class V, class R>
inline typename V::value_type reduce_lanes(const V& v, R combine) {
  std::array<typename V::value_type, V::size()> a;
  v.store(a.data());
  for (size_t width = a.size() / 2; width > 0; width /= 2)
    for (size_t i = 0; i < width; ++i) a[i] = combine(a[i], a[i + width]);
  return a[0];
}
}  // namespace CPU_CAPABILITY
}  // namespace torch_activations
