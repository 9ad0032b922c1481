"""Metrics that say whether synthetic data keeps the real distribution.

Each metric is a plain function with its definition, reference, range and better direction in its
docstring, checked in tests against a reference implementation or a closed form:

- :mod:`.diversity`: distinct-n, n-gram entropy, compression ratio, self-BLEU, Vendi score,
  mean pairwise distance;
- :mod:`.fidelity`: precision / recall / density / coverage (exact, blockwise), Fréchet distance;
- :mod:`.tails`: rarity bins and tail coverage, Zipf table, rare-token and per-label coverage;
- :mod:`.novelty`: nearest-real similarity, exact and near copies, duplicates;
- :mod:`.drift`: centroid shift, label Jensen-Shannon divergence, length KS test;
- :mod:`.lm`: interpolated Kneser-Ney n-gram model and held-out perplexity;
- :mod:`.array_lm`: the same model on numpy arrays, with fast sampling (the collapse simulator's);
- :mod:`.utility`: train on synthetic, test on real (TSTR) and real-vs-synthetic detection.
"""
