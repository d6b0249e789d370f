"""SASS text (``cuobjdump -sass``) read into instructions, opcode classes, tensor-core FLOPs and a tree of loops."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# Classes of the report, in its column order.
CLASSES = ("mma", "fp", "shared", "global", "local", "barrier", "mufu", "convert", "integer", "other")

_BY_OPCODE = {
    "mma": ("HMMA", "HGMMA", "IMMA", "IGMMA", "DMMA", "BMMA", "BGMMA", "QMMA", "QGMMA", "OMMA"),
    "fp": ("FFMA", "FMUL", "FADD", "FMNMX", "FSEL", "FSETP", "FSET", "FCHK", "FSWZADD", "FFMA2", "FADD2", "FMUL2",
           "HFMA2", "HADD2", "HMUL2", "HMNMX2", "HSETP2", "HSET2", "DFMA", "DADD", "DMUL", "DSETP", "DMNMX"),
    "shared": ("LDS", "STS", "LDSM", "STSM", "ATOMS", "LDSW"),
    "global": ("LDG", "STG", "ATOMG", "ATOM", "RED", "REDG", "LDGSTS", "LD", "ST", "UTMALDG", "UTMASTG", "UBLKCP",
               "UTMAPF", "LDGDEPBAR", "CCTL"),
    "local": ("LDL", "STL"),
    "barrier": ("BAR", "MEMBAR", "DEPBAR", "WARPGROUP", "SYNCS", "ARRIVES", "WARPSYNC", "ERRBAR", "FENCE"),
    "mufu": ("MUFU",),
    "convert": ("F2F", "F2I", "I2F", "I2I", "F2FP", "FRND", "I2FP", "F2IP", "DRND"),
    "integer": ("IMAD", "IADD3", "IADD", "IADD32I", "LEA", "LOP3", "LOP", "LOP32I", "SHF", "SHL", "SHR", "ISETP",
                "IMNMX", "IABS", "POPC", "FLO", "BFE", "BFI", "PRMT", "SEL", "VIADD", "VIADDMNMX", "VIMNMX", "IMUL",
                "BMSK", "SGXT", "ISCADD", "IMAD32I", "PLOP3", "P2R", "R2P", "BREV", "IDP", "VABSDIFF"),
}
_CLASS_OF = {opcode: cls for cls, opcodes in _BY_OPCODE.items() for opcode in opcodes}
# Uniform-datapath forms of integer operations (UIADD3, ULOP3, ...) count as integer work.
_UNIFORM_INTEGER = set(_BY_OPCODE["integer"])

_INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\s*([^;]*);")
_FUNCTION = re.compile(r"Function\s*:\s*(\S+)")
_HMMA_SHAPE = re.compile(r"^(16)(8)(\d+)$")
_HGMMA_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)$")
_MMA_DTYPES = {"BF16": "bf16", "F16": "fp16", "TF32": "tf32", "E4M3": "fp8", "E5M2": "fp8", "F64": "fp64"}


@dataclass(frozen=True)
class Instruction:
    """One SASS instruction: address, opcode (``HMMA``), modifiers (``("16816", "F32", "BF16")``), operands."""

    address: int
    opcode: str
    modifiers: Tuple[str, ...]
    operands: str
    predicate: str = ""

    @property
    def cls(self) -> str:
        return classify(self.opcode)

    def branch_target(self) -> Optional[int]:
        """The target address of a BRA, else None."""
        if self.opcode != "BRA":
            return None
        match = re.search(r"0x([0-9a-f]+)", self.operands)
        return int(match[1], 16) if match else None

    def mma_flops(self) -> float:
        """Floating-point operations this instruction does per warp (0 for other instructions).

        HMMA (mma.sync) is a warp's m16 n8 kK product; HGMMA (wgmma) is a warpgroup's M x N x K product,
        issued by each of its four warps, so a quarter of it counts per warp."""
        if self.opcode == "HMMA" and self.modifiers:
            shape = _HMMA_SHAPE.match(self.modifiers[0])
            if shape:
                m, n, k = (int(v) for v in shape.groups())
                return 2.0 * m * n * k
        if self.opcode == "HGMMA" and self.modifiers:
            shape = _HGMMA_SHAPE.match(self.modifiers[0])
            if shape:
                m, n, k = (int(v) for v in shape.groups())
                return 2.0 * m * n * k / 4
        if self.opcode == "DMMA":
            return 2.0 * 8 * 8 * 4
        return 0.0

    def mma_dtype(self) -> str:
        """Input type of a tensor-core instruction: bf16, fp16 (no type modifier: f16), tf32, fp8, fp64."""
        if self.opcode == "DMMA":
            return "fp64"
        for mod in self.modifiers[1:]:
            if mod in _MMA_DTYPES and mod != "F32":
                return _MMA_DTYPES[mod]
        return "fp16"

    def memory_bytes(self) -> int:
        """Bytes a global load or store moves for a full warp (32 lanes, each of the access width)."""
        if self.cls != "global" or self.opcode in ("LDGDEPBAR", "CCTL"):
            return 0
        width = 4
        for mod in self.modifiers:
            if mod in ("128", "64"):
                width = int(mod) // 8
            elif mod in ("U8", "S8"):
                width = 1
            elif mod in ("U16", "S16"):
                width = 2
        return 32 * width


def classify(opcode: str) -> str:
    """The report class of an opcode (see :data:`CLASSES`)."""
    if opcode in _CLASS_OF:
        return _CLASS_OF[opcode]
    if opcode.startswith("U") and opcode[1:] in _UNIFORM_INTEGER:
        return "integer"
    return "other"


def parse(text: str) -> Dict[str, List[Instruction]]:
    """Instructions of each function in ``cuobjdump -sass`` (or ``nvdisasm``) output, by function name."""
    functions: Dict[str, List[Instruction]] = {}
    current: Optional[List[Instruction]] = None
    for line in text.splitlines():
        header = _FUNCTION.search(line)
        if header:
            current = functions.setdefault(header[1], [])
            continue
        match = _INSTRUCTION.search(line)
        if match and current is not None:
            mods = tuple(m for m in match[4].split(".") if m)
            current.append(Instruction(int(match[1], 16), match[3], mods, match[5].strip(), (match[2] or "").strip()))
    return functions


def body(instructions: List[Instruction]) -> List[Instruction]:
    """The instructions a launch can run: up to the end marker ``BRA`` to itself after the last
    ``EXIT`` (what follows is padding, or subroutines of rare slow paths such as a division's)."""
    for index, ins in enumerate(instructions):
        if ins.branch_target() == ins.address and ins.predicate == "" and index and any(
                i.opcode == "EXIT" for i in instructions[:index]):
            return instructions[:index]
    return list(instructions)


@dataclass
class Loop:
    """A loop of SASS: instructions from ``start`` to ``end`` (the backward branch), inclusive."""

    start: int
    end: int
    children: List["Loop"] = field(default_factory=list)

    def contains(self, other: "Loop") -> bool:
        inside = self.start <= other.start and other.end <= self.end
        return inside and (self.start, self.end) != (other.start, other.end)


class LoopStructureError(ValueError):
    """Backward branches that do not nest into loops (irreducible control flow)."""


def loops(instructions: List[Instruction]) -> List[Loop]:
    """The top-level loops (with their nested ones) in address order: each backward branch closes a
    loop at its target; branches back to one target make one loop."""
    ends: Dict[int, int] = {}
    for ins in instructions:
        target = ins.branch_target()
        if target is not None and target < ins.address:
            ends[target] = max(ends.get(target, 0), ins.address)
    found = sorted((Loop(s, e) for s, e in ends.items()), key=lambda l: (l.start, -l.end))
    roots: List[Loop] = []
    stack: List[Loop] = []
    for loop in found:
        while stack and not stack[-1].contains(loop):
            if stack[-1].end >= loop.start:
                raise LoopStructureError(f"loops at {stack[-1].start:#x}-{stack[-1].end:#x} and "
                                         f"{loop.start:#x}-{loop.end:#x} overlap without nesting")
            stack.pop()
        (stack[-1].children if stack else roots).append(loop)
        stack.append(loop)
    return roots


def own(instructions: List[Instruction], region: Optional[Loop], inner: List[Loop]) -> List[Instruction]:
    """Instructions of ``region`` (all of them for None) outside the loops ``inner``."""
    def inside(ins, loop):
        return loop.start <= ins.address <= loop.end

    return [ins for ins in instructions
            if (region is None or inside(ins, region)) and not any(inside(ins, l) for l in inner)]


@dataclass
class Counts:
    """Instructions by class, tensor-core FLOPs (by input type) and global bytes, per warp."""

    classes: Counter = field(default_factory=Counter)
    mma_flops: Counter = field(default_factory=Counter)
    global_bytes: float = 0.0

    @property
    def total(self) -> float:
        return float(sum(self.classes.values()))

    def scaled(self, factor: float) -> "Counts":
        return Counts(Counter({k: v * factor for k, v in self.classes.items()}),
                      Counter({k: v * factor for k, v in self.mma_flops.items()}), self.global_bytes * factor)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.classes + other.classes, self.mma_flops + other.mma_flops,
                      self.global_bytes + other.global_bytes)


def count(instructions: List[Instruction]) -> Counts:
    counts = Counts()
    for ins in instructions:
        counts.classes[ins.cls] += 1
        flops = ins.mma_flops()
        if flops:
            counts.mma_flops[ins.mma_dtype()] += flops
        counts.global_bytes += ins.memory_bytes()
    return counts
