"""Which embedding backend runs by default on this CPU (issue 35): the CPU classes, each backend's speed measured
on them, and which backends pass the accuracy rule.

:func:`choose_backend` picks, for a CPU's feature flags (``/proc/cpuinfo``, read by
:func:`analysis.metrics.knn.cpu_flags`), the fastest backend measured on its class that passes the accuracy rule
(:func:`analysis.judge.backend_rule.accuracy_rule`). Fixed tables, no calibration run: every start of the same CPU
chooses the same backend, so its vectors stay in one cache. :mod:`analysis.vectors.embed` asks it and re-exports it.
"""

from __future__ import annotations

#: Whether each backend passes the accuracy rule (:func:`analysis.judge.backend_rule.accuracy_rule`) on the demo's
#: texts, as measured at 1,000 real + 600 synthetic (bench_embed.py --all; tests/test_embed.py checks the record at
#: 200 + 120 on the CPU it runs on). Only a backend that passes may be chosen by default (:func:`choose_backend`).
PASSES_RULE = {"torch": True, "onnx": True, "onnx-int8": True, "torch-bf16": True}
#: CPU flags (``/proc/cpuinfo``) of int8 dot products (VNNI), of bfloat16 dot products and of bfloat16 tiles (AMX).
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
BF16_FLAG = "avx512_bf16"
AMX_BF16_FLAG = "amx_bf16"
#: The CPU classes, most capable first: the flags that make one (each a tuple of alternatives), and each backend's
#: speed there as measured, in texts/s over the plain float32 encode's in the same run (bench_embed.py --all; the
#: README and docs/embeddings.md): where a class was measured both quiet and under load, the lower of the two, so a
#: backend that is faster only on an idle machine is not the default. A backend not measured on a class is not its
#: default.
CPU_CLASSES: tuple[tuple[str, tuple[tuple[str, ...], ...], dict[str, float]], ...] = (
    # a 2-core Intel Xeon (AVX-512, VNNI, AMX-BF16 and AMX-INT8), 400 demo texts, the backends alternating in one
    # run, 2026-12-04: onnx-int8 (export version 4) 2.76 quiet and 2.76 at load 2; torch-bf16 1.90 quiet and 2.10 at
    # load 2 (2.58 on issue 35's Xeon, quiet, in a separate run); onnx 1.19-1.21
    ("AMX-BF16", ((AMX_BF16_FLAG,),), {"onnx-int8": 2.76, "torch-bf16": 1.90, "onnx": 1.19, "torch": 1.0}),
    # this project's 2-core AMD EPYC (AVX-512 with VNNI and BF16, no AMX), 400 demo texts, 4-6 alternating rounds:
    # onnx-int8 (SmoothQuant, every text alone, export version 4) 3.20 and 3.25 quiet, 3.23-3.40 at load 1-2;
    # onnx 1.56-1.67; torch-bf16 1.93-2.04 quiet but 1.33 and 1.10 under load 4 (torch's threads stall when another
    # job holds a core, ONNX Runtime's do not)
    (
        "AVX512-BF16 and VNNI",
        ((BF16_FLAG,), VNNI_FLAGS),
        {"onnx-int8": 3.20, "onnx": 1.62, "torch-bf16": 1.10, "torch": 1.0},
    ),
    # VNNI without bfloat16 (AVX512-VNNI or AVX-VNNI): int8 and float32 as the EPYC's VNNI kernels ran them
    ("VNNI", (VNNI_FLAGS,), {"onnx-int8": 3.20, "onnx": 1.62, "torch": 1.0}),
    # AVX2 only: the 2-core AVX2 machine of issue 18
    ("AVX2", (), {"onnx": 1.25, "torch": 1.0}),
)


_FLAG_NAMES = {
    AMX_BF16_FLAG: "AMX-BF16",
    BF16_FLAG: "AVX512-BF16",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
}


_KINDS = (
    ("AMX-BF16", lambda flags: AMX_BF16_FLAG in flags),
    ("AVX512-BF16", lambda flags: BF16_FLAG in flags),
    ("VNNI", lambda flags: any(flag in flags for flag in VNNI_FLAGS)),
)


def cpu_class(flags: frozenset[str] | set[str]) -> tuple[str, dict[str, float]]:
    """The class of a CPU with these feature ``flags`` (:data:`CPU_CLASSES`: the first whose flags it has) and the
    backends' measured speeds there."""
    for name, needs, speeds in CPU_CLASSES:
        if all(any(flag in flags for flag in alternatives) for alternatives in needs):
            return name, speeds
    return CPU_CLASSES[-1][0], CPU_CLASSES[-1][2]


def choose_backend(
    flags: frozenset[str] | set[str],
    passes: dict[str, bool] | None = None,
    speeds: dict[str, float] | None = None,
) -> tuple[str, str]:
    """The default backend for a CPU with these feature ``flags`` (``/proc/cpuinfo``), and why: the fastest backend
    measured on its class (:func:`cpu_class`; ``speeds`` overrides the measurements) that passes the accuracy rule
    (``passes``, default :data:`PASSES_RULE`). In effect: where the CPU has VNNI (AMX-BF16 CPUs included),
    ``onnx-int8`` if it passes and is faster, else ``torch-bf16`` if it is faster there, else fused float32 ``onnx``
    (or the plain reference, where that is faster); ``onnx`` on AVX2 only.
    No calibration run: the order is fixed by the measurements in the README, so every start of the same CPU
    chooses the same backend, and its vectors stay in one cache.
    """
    passes = PASSES_RULE if passes is None else passes
    name, measured = cpu_class(flags)
    measured = measured if speeds is None else speeds
    ranked = sorted(measured, key=lambda b: -measured[b])
    chosen = next((b for b in ranked if passes.get(b)), "torch")
    ahead = ranked[: ranked.index(chosen)] if chosen in ranked else ranked
    faster = [f"{b} ({measured[b]:.2f}x)" for b in ahead if not passes.get(b)]
    has = [label for flag, label in _FLAG_NAMES.items() if flag in flags]
    lacks = [f"no {label}" for label, present in _KINDS if not present(flags)]
    return chosen, (
        f"this CPU has {', '.join(has + lacks)}"
        + f": class {name}, where {chosen} is the fastest backend that passes the accuracy rule "
        + f"({measured.get(chosen, 1.0):.2f}x the float32 encode as measured)"
        + (f"; faster but failing the rule: {', '.join(faster)}" if faster else "")
    )
