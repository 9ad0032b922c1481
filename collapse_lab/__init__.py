"""Collapse Lab's public API for notebooks and scripts: ``import collapse_lab as cl``.

The library lives in :mod:`analysis` (pure Python, no Streamlit); this package gathers the names a
notebook needs under one short namespace::

    import collapse_lab as cl

    cl.setup_notebook()                                  # charts and the map draw offline
    real = cl.read_samples("real.csv").samples
    synthetic = cl.read_samples("llm.csv", method="llm").samples
    samples, _ = cl.combine_samples(real, synthetic)
    result = cl.compare(samples)                         # a Comparison: .table, .risks, .in_words()

The names below are imported on first use (module ``__getattr__``), so ``import collapse_lab``
stays light: it loads torch or UMAP only when a name that needs them is first used.

Why a package of its own and not ``import analysis as cl``: several of these functions share their
name with the module of :mod:`analysis` that defines them (``embed``, ``compare``, ``risks``,
``project``, ``explore``, ``simulate``), and Python binds ``analysis.<name>`` to the submodule once
it is imported, so ``analysis.judge.compare`` cannot be both the module and the function.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from analysis import __version__ as __version__

#: public name -> (module, attribute); attribute None: the module itself
_API: dict[str, tuple[str, str | None]] = {
    # samples
    "read_samples": ("analysis.corpus", "read_samples"),
    "load_samples": ("analysis.corpus", "load_samples"),
    "combine_samples": ("analysis.corpus", "combine_samples"),
    "write_samples": ("analysis.corpus", "write_samples"),
    "load_demo": ("analysis.demo", "load_demo"),
    # embeddings, comparison, risks
    "embed": ("analysis.vectors.embed", "embed"),
    "compare": ("analysis.views.api", "compare"),
    "Comparison": ("analysis.views.api", "Comparison"),
    "risks": ("analysis.judge.risks", "risks"),
    "load_rules": ("analysis.judge.risks", "load_rules"),
    "metric_definitions": ("analysis.judge.compare", "DEFINITIONS"),
    # the map and the tails
    "project": ("analysis.maps.project", "project"),
    "explore": ("analysis.views.api", "explore"),
    "MapExplorer": ("analysis.views.api", "MapExplorer"),
    "tail_report": ("analysis.judge.coverage", "tail_report"),
    "TailReport": ("analysis.judge.coverage", "TailReport"),
    "find_gaps": ("analysis.maps.gaps", "find_gaps"),
    "GapReport": ("analysis.maps.gaps", "GapReport"),
    # mixtures
    "MixtureEngine": ("analysis.mixture", "MixtureEngine"),
    "MixtureSpec": ("analysis.mixture", "MixtureSpec"),
    "guardrail": ("analysis.mixture", "guardrail"),
    "region_occupancy": ("analysis.mixture", "region_occupancy"),
    "protect_gaps": ("analysis.mixture", "protect_gaps"),
    "protectable_gaps": ("analysis.mixture", "protectable_gaps"),
    # filling a gap
    "fill_gap": ("analysis.fill", "fill_gap"),
    "FillResult": ("analysis.fill", "FillResult"),
    # the simulator
    "simulate": ("analysis.simulate", "simulate"),
    "SimulationResult": ("analysis.simulate", "SimulationResult"),
    "closed_form": ("analysis.simulate", "closed_form"),
    "expected_curves": ("analysis.simulate", "expected_curves"),
    "average_runs": ("analysis.simulate", "average_runs"),
    # the monitor, the gate, the report
    "Monitor": ("analysis.monitor", "Monitor"),
    "MonitorHistory": ("analysis.monitor", "MonitorHistory"),
    "trend_warnings": ("analysis.monitor", "warnings"),
    "trend_thresholds": ("analysis.monitor", "thresholds"),
    "gate": ("analysis.monitor", "gate"),
    "GateResult": ("analysis.monitor", "GateResult"),
    "EXIT_CODES": ("analysis.monitor", "EXIT_CODES"),
    "build_report": ("analysis.views.report", "build_report"),
    # charts, export, display
    "charts": ("analysis.views.charts", None),
    "save_chart": ("analysis.views.api", "save_chart"),
    "csv_bytes": ("analysis.export", "csv_bytes"),
    "setup_notebook": ("analysis.views.api", "setup_notebook"),
    "CollapseLabError": ("analysis.errors", "CollapseLabError"),
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Import a public name on first use (see :data:`_API`)."""
    try:
        module_name, attribute = _API[name]
    except KeyError:
        raise AttributeError(f"module 'collapse_lab' has no attribute {name!r}") from None
    module = import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # the next lookup skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
