"""Peak memory of one training step: the CUDA allocator's peak on GPU, peak RSS of a fresh process on CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import torch

from .case import Case, build_case
from .workloads import Workload

# glibc mallopt parameters: a fixed mmap threshold returns every large block to the system when
# freed, so that RSS follows the tensors alive (glibc's adaptive threshold would keep freed
# activations resident and hide the next step's peak).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 64 * 1024
WARM_STEPS = 2
PROBE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class StepMemory:
    """Bytes a training step needs beyond what lives across steps (``extra``: activations kept
    for backward, gradients, temporaries), how they were measured, or why they were not."""

    extra: Optional[int]
    method: str
    note: str = ""


def step_memory_cuda(case: Case) -> StepMemory:
    """Peak of ``torch.cuda.max_memory_allocated`` over one step, above the memory allocated before it."""
    for _ in range(WARM_STEPS):
        case.step()
    case.clear_grads()
    device = case.x.device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    case.step()
    torch.cuda.synchronize(device)
    return StepMemory(torch.cuda.max_memory_allocated(device) - before, "cuda max_memory_allocated")


def _proc_status(*keys: str) -> Tuple[int, ...]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in keys:
                values[key] = int(rest.split()[0]) * 1024  # reported in kB
    return tuple(values[k] for k in keys)


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _fixed_mmap_threshold() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not (libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, _MMAP_THRESHOLD)):
        raise OSError("mallopt refused a fixed mmap threshold")


def _step_rss(provider: str, workload: dict, dtype: str, seed: int, threads: int) -> list:
    """In a process that has done no work yet: the step's peak RSS above the RSS just before it."""
    try:
        torch.set_num_threads(threads)
        _fixed_mmap_threshold()
        case = build_case(provider, Workload(**workload), "cpu", dtype, seed)
        for _ in range(WARM_STEPS):
            case.step()
        case.clear_grads()
        _reset_peak_rss()
        (before,) = _proc_status("VmRSS")
        case.step()
        (peak,) = _proc_status("VmHWM")
        # The kernel's RSS counters lag by up to 64 pages per thread, so a step that allocates
        # almost nothing can read slightly negative; the peak is never below the start.
        return ["ok", max(peak - before, 0)]
    except Exception as err:  # reported to the parent, which records it with the row
        return ["error", f"{type(err).__name__}: {err}"]


def serve() -> None:
    """The probe server: reads one JSON request per line on stdin and answers one JSON line per
    request, measured in a child forked for it. The server imports torch and metakan once and
    runs no torch op itself, so each child starts clean (no thread pool, no earlier tensors)."""
    import torch._dynamo  # noqa: F401  (optimizers import it on first use: 2 s per child otherwise)

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    for line in sys.stdin:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                os.write(write_end, json.dumps(_step_rss(**json.loads(line))).encode())
            finally:
                os._exit(0)  # never back into the server's loop, whatever happened
        os.close(write_end)
        with os.fdopen(read_end, "rb") as answer:
            data = answer.read()
        _, status = os.waitpid(pid, 0)
        protocol.write((data.decode() if data else json.dumps(["error", f"the probe died (wait status {status})"])) + "\n")


class CpuMemoryProbe:
    """Measures each case in a fresh process, forked for it by a probe server (``python -m
    metakan.bench.probe_server``) that has only imported torch and metakan, so that no allocation of an
    earlier case is counted and torch is imported once. Linux only (/proc/self, glibc)."""

    METHOD = "peak RSS of a fresh process"

    def __init__(self, timeout_s: float = PROBE_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._server: Optional[subprocess.Popen] = None
        self._stderr = None

    @staticmethod
    def unsupported() -> Optional[str]:
        """Why peak RSS cannot be measured here (None when it can)."""
        try:
            _proc_status("VmRSS", "VmHWM")
            with open("/proc/self/clear_refs", "w"):
                pass
            ctypes.CDLL(ctypes.util.find_library("c")).mallopt
            os.fork
        except (OSError, KeyError, AttributeError) as err:
            return f"peak RSS needs Linux /proc, fork and glibc: {err}"
        return None

    def _start(self) -> subprocess.Popen:
        self._stderr = tempfile.TemporaryFile()
        # Compiling in-process keeps inductor from leaving worker pools behind each probe; a
        # process group of its own lets a probe past its timeout be ended together with its server.
        return subprocess.Popen(
            [sys.executable, "-m", "metakan.bench.probe_server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, bufsize=1, start_new_session=True,
            env={**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": "1"},
        )

    def _server_error(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self._server.returncode}"

    def measure(self, provider: str, workload: Workload, dtype: str, seed: int, threads: int) -> StepMemory:
        if self._server is None or self._server.poll() is not None:
            self._server = self._start()
        request = dict(provider=provider, workload=asdict(workload), dtype=dtype, seed=seed, threads=threads)
        try:
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
        except BrokenPipeError:
            self._server.wait()
            return StepMemory(None, self.METHOD, f"the memory probe server exited: {self._server_error()}")
        ready, _, _ = select.select([self._server.stdout], [], [], self.timeout_s)
        if not ready:
            self.close(kill=True)
            return StepMemory(None, self.METHOD, f"the memory probe ran past {self.timeout_s:.0f} s")
        line = self._server.stdout.readline()
        if not line:
            self._server.wait()
            return StepMemory(None, self.METHOD, f"the memory probe server exited: {self._server_error()}")
        status, value = json.loads(line)
        if status == "ok":
            return StepMemory(value, self.METHOD)
        return StepMemory(None, self.METHOD, f"the memory probe failed: {value}")

    def close(self, kill: bool = False) -> None:
        """Stop the probe server (it also stops by itself when this process ends)."""
        if self._server is None:
            return
        if kill:
            os.killpg(self._server.pid, signal.SIGKILL)
        self._server.stdin.close()
        self._server.wait()
        self._server.stdout.close()
        self._stderr.close()
        self._server = None

