"""Measurement primitives: interleaved timing of competitors with the spread
across rounds, the share of the CPU other processes take, and the count of
bytes autograd keeps for backward."""

import gc
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

WARMUP_ROUNDS = 3
MIN_ROUNDS, MAX_ROUNDS = 7, 300
# A sample times this long at least: calls faster than that are repeated
# within one sample, so the timer's own cost and jitter stay small.
MIN_SAMPLE_S = 2e-4
# A figure whose rounds spread more than this (half the interquartile range
# over the median) is re-measured, and marked noisy if it still does.
NOISY_SPREAD = 0.10


@dataclass
class Competitor:
    """One way of computing the case: `call` is timed, `reset` runs after it
    (untimed when one call fills a sample, timed with it when calls are
    repeated within a sample: it must be cheap)."""

    call: Callable[[], None]
    reset: Callable[[], None] = lambda: None


class CpuTimer:
    """Wall-clock time of each call; CPU kernels are synchronous."""

    def time(self, fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def end_round(self):
        pass

    def seconds(self, token):
        return token


class CudaTimer:
    """An event pair around each call, read after one synchronize per round so
    that the host never waits between the calls of a round."""

    def time(self, fn):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        return start, end

    def end_round(self):
        torch.cuda.synchronize()

    def seconds(self, token):
        start, end = token
        return start.elapsed_time(end) / 1e3


class SyncedWallTimer(CpuTimer):
    """Wall-clock time including the wait for the GPU: the host's cost per
    call, which is what per-call overhead is about."""

    def time(self, fn):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start


def timer_for(device: str):
    return CudaTimer() if device == "cuda" else CpuTimer()


def wall_timer_for(device: str):
    return SyncedWallTimer() if device == "cuda" else CpuTimer()


def _repeated(competitor, reps):
    if reps == 1:
        return competitor.call

    def calls():
        for _ in range(reps):
            competitor.call()
            competitor.reset()

    return calls


def _run_round(competitors, names, timer, reps):
    tokens = {}
    for name in names:
        tokens[name] = timer.time(_repeated(competitors[name], reps))
        if reps == 1:
            competitors[name].reset()
    timer.end_round()
    return {name: timer.seconds(token) / reps for name, token in tokens.items()}


def _rotated(names, shift):
    shift %= len(names)
    return names[shift:] + names[:shift]


def measure_interleaved(
    competitors: Dict[str, Competitor], timer, seconds_each: float,
    min_rounds: int = MIN_ROUNDS, max_rounds: int = MAX_ROUNDS,
) -> Dict[str, List[float]]:
    """Seconds per call of each competitor, one sample per round.

    Every round runs each competitor once, in an order rotated per round, so
    that drift in clock speed or background load hits all of them alike and
    sample i of one competitor pairs with sample i of another. The round
    count aims at about `seconds_each` of calls per competitor. The garbage
    collector is off while timing (a full collection costs up to a second
    with torch loaded, so none is forced).
    """
    names = list(competitors)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        warmup = [_run_round(competitors, names, timer, 1) for _ in range(WARMUP_ROUNDS)]
        # the fastest warm-up call of each sizes the run: a first call can be far slower
        per_call = statistics.fmean(min(w[name] for w in warmup) for name in names)
        reps = max(1, math.ceil(MIN_SAMPLE_S / max(per_call, 1e-9)))
        rounds = int(min(max_rounds, max(min_rounds, seconds_each / max(per_call * reps, 1e-9))))
        samples = {name: [] for name in names}
        for r in range(rounds):
            for name, seconds in _run_round(competitors, _rotated(names, r), timer, reps).items():
                samples[name].append(seconds)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def describe(samples: List[float]) -> dict:
    """Median (the figure reported) and its spread across rounds: the
    quartiles, and half the interquartile range relative to the median."""
    if len(samples) > 1:
        q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = q3 = samples[0]
    median = statistics.median(samples)
    return {"median_s": median, "min_s": min(samples), "p25_s": q1, "p75_s": q3, "rounds": len(samples),
            "spread": (q3 - q1) / (2 * abs(median)) if median else 0.0}


def describe_ratio(numerator: List[float], denominator: List[float]) -> dict:
    """numerator / denominator round by round (the samples are paired by
    round), with the spread of those ratios."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    stats = describe(ratios)
    return {"median": stats["median_s"], "p25": stats["p25_s"], "p75": stats["p75_s"], "spread": stats["spread"]}


def describe_difference(minuend: List[float], subtrahend: List[float]) -> dict:
    """minuend - subtrahend round by round, in seconds, with its quartiles."""
    stats = describe([a - b for a, b in zip(minuend, subtrahend)])
    return {"median_s": stats["median_s"], "p25_s": stats["p25_s"], "p75_s": stats["p75_s"]}


class OtherLoad:
    """The share of the machine's CPU time that other processes took since the
    last reading: all busy time (/proc/stat, hypervisor steal included) less
    this process's own. None where /proc/stat is missing."""

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._now()

    def _now(self):
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = sum(values) - values[3] - values[4]  # less idle and iowait
        own = os.times()
        return busy / self._hz, own.user + own.system, time.monotonic()

    def read(self) -> Optional[float]:
        now, last = self._now(), self._last
        self._last = now
        if now is None or last is None or now[2] - last[2] <= 0:
            return None
        others = (now[0] - last[0]) - (now[1] - last[1])
        return min(1.0, max(0.0, others / ((now[2] - last[2]) * self.cores)))


def check_load(seconds: float = 1.0) -> dict:
    """How busy the machine is before we start: other processes' share of the
    CPU over `seconds` of our own idleness, and the load average."""
    meter = OtherLoad()
    time.sleep(seconds)
    share = meter.read()
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"others_cpu": share, "load_average_1min": load1, "cores": meter.cores, "seconds": seconds}


def saved_tensor_bytes(fn: Callable, *args, **kwargs) -> int:
    """Bytes of the distinct storages that autograd saves while `fn` runs forward.

    Tensors sharing a storage (views, or the same tensor saved twice) count
    once; saved inputs count too, leaves included, because they stay alive for
    backward whether or not the caller still holds them.
    """
    storages: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return sum(storages.values())


def fresh_fill_ms(numel: int = 2**24, repeats: int = 20) -> Optional[float]:
    """Median ms to allocate and fill a new float32 tensor, over the second
    half of the calls (the first few fault in the heap in any case): high when
    the allocator hands big blocks back to the OS and every call page-faults."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.empty(numel).fill_(1.0)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[repeats // 2:]) * 1e3
