"""The collapse simulator: train a model on its own output, generation after generation.

One entry point, :func:`simulate`, runs the recursive loop for real (no canned curves) for four
models, from the textbook case to text, under three data regimes side by side.

Generations
-----------
Generation 0 is the model fitted to the real training data ``R`` (``n`` items). Generation ``t``
(1 … ``generations``) is fitted to a training set built from what earlier generations produced;
each generation ``t`` then draws ``n`` samples ``S_t`` from itself. The regimes (Shumailov et al.
2024; Gerstgrasser et al. 2024):

``replace``
    generation ``t`` is trained on ``S_{t-1}`` only;
``accumulate``
    generation ``t`` is trained on ``R ∪ S_0 ∪ … ∪ S_{t-1}`` (``(t + 1) n`` items, real included);
``mix``
    generation ``t`` is trained on ``n`` items: ``round(real_share · n)`` drawn afresh (without
    replacement) from ``R`` and the rest from ``S_{t-1}`` (default real share 2/3).

Generation 0 (the fit to real data and its sample ``S_0``) is shared by all regimes. Each
regime's randomness comes from its own stream ``(seed, regime, generation)``, so a regime's curve
does not depend on which other regimes run beside it, and the same seed gives the same result.

Models
------
``gaussian``
    a Gaussian fitted by maximum likelihood (Shumailov et al. 2024): mean, variance, tail mass.
``regression``
    ordinary least squares on its own predictions over a fixed design (Dohmatob et al. 2024;
    Gerstgrasser et al. 2024): test error against the true weights.
``ngram``
    the interpolated Kneser-Ney model of :mod:`analysis.metrics.lm` on the demo's (or the user's)
    real texts, sampling its next training set with temperature and top-k / top-p: held-out
    perplexity, entropy, vocabulary, rare-token mass and coverage, distinct-2 and, optionally,
    embedding coverage and recall.
``embedding``
    a Gaussian mixture fitted to sentence embeddings of real texts and resampled each generation:
    precision / recall / density / coverage against the real holdout, Vendi score, mean pairwise
    distance, and the generated points themselves for the map.

:func:`closed_form` gives the published expectations that the tests check by Monte Carlo.

Modules
-------
:mod:`.engine`
    :func:`simulate`, the loop and the model registry;
:mod:`.protocol`
    what the loop asks of a model (:class:`SimulationModel`) and :class:`SimulationError`;
:mod:`.result`
    :class:`SimulationResult`;
:mod:`.closed_forms`
    :func:`closed_form`, :func:`expected_curves`, :func:`average_runs`;
:mod:`.gaussian`, :mod:`.regression`, :mod:`.ngram`, :mod:`.embedding`
    one model each (:mod:`.embedding` also :func:`project_generations`);
:mod:`.real_data`
    the real texts and vectors the text models start from.

References
----------
Shumailov, Shumaylov, Zhao, Papernot, Anderson and Gal, "AI models collapse when trained on
recursively generated data", Nature 631, 2024.
Dohmatob, Feng and Kempe, "Model Collapse Demystified: The Case of Regression", 2024.
Gerstgrasser, Schaeffer, Dey, Rafailov, Sleight, Hughes, Korbak, Agrawal, Pai, Gromov, Roberts,
Yang, Donoho and Koyejo, "Is Model Collapse Inevitable? Breaking the Curse of Recursion by
Accumulating Real and Synthetic Data", 2024.
"""

from analysis.metrics.array_lm import ArrayKneserNey, TokenCorpus
from analysis.simulate.closed_forms import average_runs, closed_form, expected_curves
from analysis.simulate.embedding import EmbeddingModel, project_generations
from analysis.simulate.engine import DEFAULT_REAL_SHARE, METRICS, MODEL_CLASSES, MODELS, REGIMES, simulate
from analysis.simulate.gaussian import GaussianModel
from analysis.simulate.ngram import NgramModel
from analysis.simulate.protocol import SimulationError, SimulationModel
from analysis.simulate.regression import RegressionModel
from analysis.simulate.result import SimulationResult

__all__ = [
    "MODELS",
    "MODEL_CLASSES",
    "REGIMES",
    "DEFAULT_REAL_SHARE",
    "METRICS",
    "SimulationError",
    "SimulationModel",
    "SimulationResult",
    "simulate",
    "closed_form",
    "average_runs",
    "expected_curves",
    "GaussianModel",
    "RegressionModel",
    "NgramModel",
    "EmbeddingModel",
    "ArrayKneserNey",
    "TokenCorpus",
    "project_generations",
]
