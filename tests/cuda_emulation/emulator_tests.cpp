// The emulator itself: indices, grid-stride loops over a multi-dimensional
// grid, warp collectives (values, widths, masks), block barriers, dynamic
// shared memory, and the errors it must report instead of hanging.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "launch.h"

namespace kernel_tests {
namespace {

// The recorded launch error, cleared; "" when the launch succeeded.
std::string launch_error() {
  std::string message;
  const cudaError_t e = cuda_emulation::take_error(&message);
  return e == cudaSuccess ? "" : message;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

__global__ void record_indices(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] = block * 1000 + thread;
}

__global__ void grid_stride_count(int* hits, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    atomicAdd(&hits[i], 1);
  }
}

// Every lane gets the warp's sum through a butterfly of xor shuffles, then
// the other shuffles and votes are checked against their definitions.
__global__ void warp_collectives(int* out) {
  const int lane = threadIdx.x % 32;
  int sum = lane + 1;
  for (int m = 16; m > 0; m /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, m);
  const int base = threadIdx.x * 8;
  out[base + 0] = sum;
  out[base + 1] = __shfl_sync(0xffffffffu, lane * 10, 3);
  out[base + 2] = __shfl_up_sync(0xffffffffu, lane, 2, 8);
  out[base + 3] = __shfl_down_sync(0xffffffffu, lane, 3, 16);
  out[base + 4] = int(__ballot_sync(0xffffffffu, lane % 3 == 0));
  out[base + 5] = __shfl_xor_sync(0xffffffffu, lane, 5, 4);
  out[base + 6] = __any_sync(0xffffffffu, lane == 17) + 2 * __all_sync(0xffffffffu, lane < 32);
  const double d = __shfl_sync(0xffffffffu, double(lane) + 0.5, 31 - lane);
  out[base + 7] = int(d * 2);
}

// Half-warps that shuffle among themselves with their own masks.
__global__ void half_warps(int* out) {
  const int lane = threadIdx.x % 32;
  const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  int v = lane;
  for (int m = 8; m > 0; m /= 2) v += __shfl_xor_sync(mask, v, m);
  __syncwarp(mask);
  out[threadIdx.x] = v;
}

// Shared memory written by every thread and read across warps after a
// barrier; the dynamic buffer starts as 0xFF bytes in every block.
__global__ void shared_exchange(int* out, unsigned char* first_bytes) {
  __shared__ int tile[256];
  TA_DYNAMIC_SHARED(unsigned char, scratch);
  if (threadIdx.x == 0) first_bytes[blockIdx.x] = scratch[5];
  __syncthreads();
  scratch[threadIdx.x % 8] = 0;
  tile[threadIdx.x] = int(threadIdx.x + blockIdx.x * 1000);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

__global__ void divergent_barrier(int* out) {
  if (threadIdx.x < 40) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void barrier_after_exit(int* out) {
  if (threadIdx.x == 7) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void mask_names_exited_lane(int* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void mask_without_own_lane(int* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, int(threadIdx.x), 0);
}

__global__ void mask_beyond_block(int* out) {  // launched with 40 threads
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void read_outside_mask(int* out) {
  const unsigned mask = threadIdx.x < 16 ? 0x0000ffffu : 0xffff0000u;
  out[threadIdx.x] = __shfl_sync(mask, int(threadIdx.x), 20);
}

__global__ void collective_waits_for_barrier(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  }
}

__global__ void mismatched_collectives(int* out) {
  if (threadIdx.x % 2 == 0) {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  } else {
    out[threadIdx.x] = int(__ballot_sync(0xffffffffu, 1));
  }
}

__global__ void does_nothing(int*) {}

void check_indices(Checker& check) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const unsigned threads = 24, blocks = 12;
  std::vector<unsigned> out(threads * blocks, 0);
  TA_LAUNCH(grid, block, 0, nullptr, record_indices)(out.data());
  check.expect(launch_error().empty(), "record_indices launches");
  bool ok = true;
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t) ok &= out[b * threads + t] == b * 1000 + t;
  check.expect(ok, "every (block, thread) of a 3-D grid of 3-D blocks runs once with its indices");

  std::vector<int> hits(5000, 0);
  TA_LAUNCH(3, 128, 0, nullptr, grid_stride_count)(hits.data(), int64_t(hits.size()));
  check.expect(launch_error().empty(), "grid_stride_count launches");
  bool once = true;
  for (int h : hits) once &= h == 1;
  check.expect(once, "a grid-stride loop visits every element exactly once");
}

void check_collectives(Checker& check) {
  std::vector<int> out(64 * 8, -1);
  TA_LAUNCH(1, 64, 0, nullptr, warp_collectives)(out.data());
  check.expect(launch_error().empty(), "warp_collectives launches");
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  bool sum = true, shfl = true, up = true, down = true, vote = true, xor_width = true,
       any_all = true, dbl = true;
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, *o = &out[t * 8];
    sum &= o[0] == 32 * 33 / 2;
    shfl &= o[1] == 30;
    up &= o[2] == (lane % 8 >= 2 ? lane - 2 : lane);
    down &= o[3] == (lane % 16 + 3 < 16 ? lane + 3 : lane);
    vote &= unsigned(o[4]) == ballot;
    const int src = lane ^ 5;
    xor_width &= o[5] == (src >= (lane / 4 + 1) * 4 ? lane : src);
    any_all &= o[6] == 3;
    dbl &= o[7] == 2 * (31 - lane) + 1;
  }
  check.expect(sum, "__shfl_xor_sync butterfly sums the warp");
  check.expect(shfl, "__shfl_sync reads the source lane");
  check.expect(up, "__shfl_up_sync within width 8");
  check.expect(down, "__shfl_down_sync within width 16");
  check.expect(vote, "__ballot_sync");
  check.expect(xor_width, "__shfl_xor_sync within width 4 keeps later segments' own value");
  check.expect(any_all, "__any_sync and __all_sync");
  check.expect(dbl, "__shfl_sync of a double");

  std::vector<int> halves(32, -1);
  TA_LAUNCH(1, 32, 0, nullptr, half_warps)(halves.data());
  check.expect(launch_error().empty(), "half_warps launches");
  bool ok = true;
  for (int l = 0; l < 32; ++l) ok &= halves[l] == (l < 16 ? 120 : 376);
  check.expect(ok, "two half-warps shuffle under their own masks");
}

void check_shared(Checker& check) {
  const int blocks = 3, threads = 256;
  std::vector<int> out(blocks * threads, -1);
  std::vector<unsigned char> first(blocks, 0);
  TA_LAUNCH(blocks, threads, 64, nullptr, shared_exchange)(out.data(), first.data());
  check.expect(launch_error().empty(), "shared_exchange launches");
  bool ok = true;
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) ok &= out[b * threads + t] == threads - 1 - t + b * 1000;
  check.expect(ok, "static shared memory is shared by the block across a barrier");
  check.expect(first[0] == 0xFF && first[1] == 0xFF && first[2] == 0xFF,
               "dynamic shared memory starts as 0xFF bytes in every block");
}

void expect_error(Checker& check, const std::string& error, const std::string& part,
                  const char* what) {
  check.expect(contains(error, part), std::string(what) + ": got '" + error + "'");
}

void check_errors(Checker& check) {
  std::vector<int> out(1024, 0);
  TA_LAUNCH(1, 64, 0, nullptr, divergent_barrier)(out.data());
  expect_error(check, launch_error(), "divergent __syncthreads", "divergent barriers are reported");
  TA_LAUNCH(1, 64, 0, nullptr, barrier_after_exit)(out.data());
  expect_error(check, launch_error(), "has exited", "a barrier after some threads exit is reported");
  TA_LAUNCH(1, 32, 0, nullptr, mask_names_exited_lane)(out.data());
  expect_error(check, launch_error(), "which has exited", "a mask naming an exited lane is reported");
  TA_LAUNCH(1, 32, 0, nullptr, mask_without_own_lane)(out.data());
  expect_error(check, launch_error(), "does not name its own lane", "a mask without the caller is reported");
  TA_LAUNCH(1, 40, 0, nullptr, mask_beyond_block)(out.data());
  expect_error(check, launch_error(), "names lanes that warp 1 does not have",
               "a full mask in a partial warp is reported");
  TA_LAUNCH(1, 32, 0, nullptr, read_outside_mask)(out.data());
  expect_error(check, launch_error(), "not in mask", "a shuffle reading outside its mask is reported");
  TA_LAUNCH(1, 32, 0, nullptr, collective_waits_for_barrier)(out.data());
  expect_error(check, launch_error(), "deadlock", "a collective waiting for a barrier is a deadlock");
  TA_LAUNCH(1, 32, 0, nullptr, mismatched_collectives)(out.data());
  expect_error(check, launch_error(), "different warp collectives", "mismatched collectives are reported");
  TA_LAUNCH(1, 1025, 0, nullptr, does_nothing)(out.data());
  expect_error(check, launch_error(), "invalid configuration", "1025 threads per block are refused");
  TA_LAUNCH(0, 32, 0, nullptr, does_nothing)(out.data());
  expect_error(check, launch_error(), "invalid configuration", "an empty grid is refused");
  TA_LAUNCH(1, 32, 48 * 1024 + 1, nullptr, does_nothing)(out.data());
  expect_error(check, launch_error(), "invalid configuration", "too much shared memory is refused");
  // after all that, launches work again (abandoned fibers' stacks are reused)
  std::vector<int> hits(300, 0);
  TA_LAUNCH(2, 64, 0, nullptr, grid_stride_count)(hits.data(), int64_t(hits.size()));
  bool once = launch_error().empty();
  for (int h : hits) once &= h == 1;
  check.expect(once, "a launch after failed launches runs normally");
}

}  // namespace

void emulator_tests(Checker& check) {
  check.context = std::string("emulator, ") + cuda_emulation::schedule_name(cuda_emulation::schedule());
  check_indices(check);
  check_collectives(check);
  check_shared(check);
  check_errors(check);
}

}  // namespace kernel_tests
