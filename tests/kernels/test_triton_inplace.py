"""Autotuned Triton kernels that add into an output name it for the autotuner to reset: found in the kernels' source.

The autotuner times every configuration on the caller's buffers; a kernel that loads and stores
through one pointer argument (or updates it atomically) would otherwise start its real run from
the timing runs' sums. The interpreter runs one configuration, so only this reading of the source,
or a GPU, can see such a bug.
"""

import importlib
import inspect
import pkgutil
import types

import pytest
import torch
import triton
import triton.language as tl

import metakan_kernels.triton as triton_package
from metakan_kernels.triton import aot, inplace
from metakan_kernels.triton.backward_params import METAKAN_BWD_PARAMS_KERNELS

PARTIALS = {"pw1_ptr", "pb1_ptr", "pw2_ptr", "pb2_ptr"}


def _package_modules():
    return [importlib.import_module(f"{triton_package.__name__}.{m.name}")
            for m in pkgutil.iter_modules(triton_package.__path__)]


def test_every_autotuned_kernel_that_updates_in_place_declares_a_reset():
    modules = _package_modules()
    tuners = inplace.autotuners(modules)
    assert len(tuners) >= 15, sorted(tuners)  # forward, dx, both parameter kernels, per precision class
    assert inplace.autotune_hazards(modules) == []


def test_the_meta_parameter_kernel_is_seen_to_accumulate():
    # The analysis follows the partial sums through meta_mlp_backward into _accumulate.
    for tuner in METAKAN_BWD_PARAMS_KERNELS.values():
        assert inplace.updated_in_place(tuner) == PARTIALS
        assert PARTIALS <= set(tuner.reset_to_zero)


@pytest.mark.parametrize("setting", aot.SETTINGS, ids=lambda s: s.name)
def test_tensor_arguments_follow_the_pointer_naming_the_analysis_relies_on(setting):
    # updated_in_place looks at parameters named *_ptr: every tensor a launcher passes is one, and no other is.
    for dtype in setting.dtypes:
        for rec in aot.setting_launches(setting, dtype).values():
            params = inspect.signature(inplace.jit_function(rec.kernel)).parameters
            tensors = {name for name, value in rec.args.items() if isinstance(value, torch.Tensor)}
            assert tensors == {p for p in params if p.endswith("_ptr")}


# Small kernels with known answers, each a way of updating memory.

@triton.jit
def _add_into(ptr, value):
    tl.store(ptr, tl.load(ptr) + value)


@triton.jit
def _accumulates_through_a_helper(src_ptr, acc_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    row = acc_ptr + offsets
    _add_into(row, tl.load(src_ptr + offsets, mask=offsets < n))


@triton.jit
def _atomic(src_ptr, out_ptr, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    tl.atomic_add(out_ptr + offsets, tl.load(src_ptr + offsets))


@triton.jit
def _copy(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    for start in range(0, n, BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        tl.store(out_ptr + offsets, tl.load(src_ptr + offsets, mask=offsets < n), mask=offsets < n)


@triton.jit
def _offset_of(base, k):
    return base + k


@triton.jit
def _in_place_through_a_returned_pointer(data_ptr, BLOCK: tl.constexpr):
    where = _offset_of(data_ptr, tl.arange(0, BLOCK))
    value = tl.load(where)
    tl.store(where, value * 2)


@triton.jit
def _through_a_descriptor(out_ptr, BLOCK: tl.constexpr):
    desc = tl.make_tensor_descriptor(out_ptr, shape=[BLOCK], strides=[1], block_shape=[BLOCK])
    desc.store([0], desc.load([0]) + 1.0)


@pytest.mark.parametrize("kernel, expected", [
    (_accumulates_through_a_helper, {"acc_ptr"}),
    (_atomic, {"out_ptr"}),
    (_copy, set()),
    (_in_place_through_a_returned_pointer, {"data_ptr"}),
    (_through_a_descriptor, {"out_ptr"}),
], ids=["helper", "atomic", "copy", "returned-pointer", "descriptor"])
def test_updates_in_place_are_found(kernel, expected):
    assert inplace.updated_in_place(kernel) == expected


def test_effects_name_each_access():
    effects = inplace.pointer_effects(_copy)
    assert effects["src_ptr"] == {"load"} and effects["out_ptr"] == {"store"}
    assert "n" in effects  # integers in address arithmetic are reached; updated_in_place keeps *_ptr only


def test_an_unprotected_autotuner_is_a_hazard_and_a_reset_clears_it():
    configs = [triton.Config({"BLOCK": 16}), triton.Config({"BLOCK": 32})]
    module = types.ModuleType("kernels_under_test")
    module.BARE = triton.autotune(configs=configs, key=["n"])(_accumulates_through_a_helper)
    module.RESET = {"x": triton.autotune(configs=configs, key=["n"], reset_to_zero=["acc_ptr"])(
        _accumulates_through_a_helper)}
    module.RESTORED = [triton.autotune(configs=configs, key=[], restore_value=["out_ptr"])(_atomic)]
    hazards = inplace.autotune_hazards([module])
    assert hazards == [inplace.Hazard("kernels_under_test.BARE", "_accumulates_through_a_helper", ("acc_ptr",))]


def test_not_a_kernel_is_refused():
    with pytest.raises(TypeError, match="not a Triton kernel"):
        inplace.pointer_effects(len)
