"""The ONNX Runtime backends of :mod:`analysis.vectors.embed`: the bundled all-MiniLM-L6-v2 exported once at install.

``python -m analysis export-model DIR`` (a ``make`` step; :func:`export`) writes, from the bundled model and
never from the network:

- ``model.onnx``: the transformer with mean pooling and L2 normalisation inside the graph (float32),
  its layers fused by ONNX Runtime's own transformer optimizer (``onnxruntime.transformers``: one
  ``Attention`` op per layer, ``SkipLayerNormalization``, ``BiasGelu``, ``EmbedLayerNormalization``).
  Same arithmetic, fewer passes over memory: on the 2-core AVX2 machine 1.25x the plain float32
  sentence-transformers encode, where the unfused export was 1.1x;
- ``model-int8.onnx``: the fused graph with every weight product in int8 (ONNX Runtime's dynamic
  quantisation: QInt8 weights per output channel, activations quantised per tensor at run time), after
  SmoothQuant (Xiao et al. 2023): each product's input channel ``j`` is divided by
  ``s_j = max|x_j|^a / max|W_j|^(1-a)`` (``a`` = :data:`SMOOTH_ALPHA`, ``max|x_j|`` over the tokens of
  :data:`CALIBRATION_TEXTS` demo texts run one at a time through the float32 graph) and the weight's row ``j``
  multiplied by it: the same product in float arithmetic, but BERT's outlier channels no longer set the
  per-tensor scale of the whole activation. The attention output projection's ``1/s`` is folded into the value
  weights (exact, no extra op); the other three products get a ``Mul`` by ``1/s`` before their input is quantised.
  Without smoothing, int8 in every product moved the minimum cosine to 0.986 and the feed-forward
  down-projections had to stay float32 (1.36x ``onnx`` where this is 1.9-2.05x). Quantisation noise averages
  out over a text's tokens in the mean pooling, so the shortest texts are the most exposed: a text of fewer than
  :data:`FLOAT_BELOW_TOKENS` tokens (special tokens included) runs through ``model.onnx`` (:class:`OnnxEncoder`),
  at almost no cost since such texts are cheap. Dynamic quantisation picks its kernels at run time from the CPU's
  features (AVX2, AVX-512, VNNI or plain SSE), so one file runs on any x86-64. It sets one activation scale per
  tensor, so a text run with others would depend on its batch-mates (and their padding): :class:`OnnxEncoder` runs
  every text of this file alone, on single-threaded sessions, one text per core at a time. A text's vector is then
  the same in any batch, and on 2 cores this is faster than batches of 16 (3.2x the plain encode on a quiet AMD
  EPYC with AVX-512 VNNI, where batches of 16 gave 2.9x; docs/embeddings.md).

:class:`OnnxEncoder` runs either file with the model's own tokenizer (``tokenizer.json``, truncated
at the model's ``max_seq_length``) and has the small part of ``SentenceTransformer.encode`` that
:func:`analysis.vectors.embed.embed` uses. This module imports nothing of the project, so
:mod:`analysis.vectors.embed` can import it without a circle.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: File of each exported backend inside the export folder.
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
#: Written last by :func:`export`: a folder without it is a half-finished export and is not used.
STAMP = "exported.json"
#: Bumped when the export changes (graph, quantisation): part of the cache identity of its vectors.
EXPORT_VERSION = 4
#: SmoothQuant's migration strength of the int8 export (:func:`smooth`): 0.7 kept the accuracy rule at 1,000 real +
#: 600 synthetic demo texts; 0.5, 0.6, 0.75 and 0.8 moved the minimum cosine on unseen text below 0.99.
SMOOTH_ALPHA = 0.7
#: Demo texts (real, every n-th by id) whose activations set the smoothing scales; each runs alone (no padding).
CALIBRATION_TEXTS = 256
#: A text of the int8 backend with fewer tokens than this (special tokens included) runs in float32
#: (:class:`OnnxEncoder`): at 1-3 tokens int8 gave cosine 0.984 to the reference, from 4 on >= 0.992,
#: from 16 on >= 0.9947.
FLOAT_BELOW_TOKENS = 16


def max_seq_length(model_path: Path) -> int:
    """The sentence-transformers model's truncation length (``sentence_bert_config.json``; 256 for MiniLM)."""
    config = Path(model_path) / "sentence_bert_config.json"
    return int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256


#: Characters per token of the model's bound looked at first when a text is longer (:func:`readable_part`):
#: English averages about 4 characters a token, so 16 is a generous margin; a text whose first this many
#: characters hold fewer tokens is looked at further, never cut short.
CHARS_PER_TOKEN = 16
_SPACES = " \n\t\r"
_SPACE = re.compile("[ \n\t\r]")


def readable_part(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The part of ``text`` that decides its vector under a model that reads ``max_tokens`` tokens: the whole
    text when it is short, else a prefix cut at whitespace that already holds ``max_tokens`` tokens.

    The model truncates at ``max_tokens`` anyway, but a tokenizer tokenises all of a text before truncating
    (a 1 MB text: seconds and hundreds of MB). A prefix ending just before whitespace holds the same
    first tokens as the whole text, since tokenizers split words at whitespace (WordPiece, BPE,
    SentencePiece alike), so the model sees exactly the same tokens: no vector changes. ``count_tokens``
    gives the number of tokens of a prefix, special tokens not counted (at least ``max_tokens`` when there
    are more). A prefix with too few tokens (long runs of whitespace or of characters a tokenizer drops)
    is widened fourfold until it has enough or is the whole text.
    """
    bound = max_tokens * CHARS_PER_TOKEN
    while len(text) > bound:
        # the last ASCII whitespace at or before the bound (others may be dropped like control characters),
        # else the first after it; the prefix ends before its whole run of whitespace
        cut = max(text.rfind(space, 0, bound + 1) for space in _SPACES)
        if cut <= 0:
            after = _SPACE.search(text, bound)
            cut = after.start() if after else len(text)
        cut = len(text[:cut].rstrip(_SPACES))
        if 0 < cut < len(text) and count_tokens(text[:cut]) >= max_tokens:
            return text[:cut]
        bound *= 4
    return text


class TokenCounter:
    """The number of tokens of a text under a ``tokenizers.Tokenizer`` (special tokens not counted), from a
    copy of it that neither truncates nor pads: the tokenizer's own settings are left alone. Called with one
    text it counts that text; :meth:`lengths` counts many in one batch call (Rust threads)."""

    def __init__(self, tokenizer) -> None:
        from tokenizers import Tokenizer

        self.copy = Tokenizer.from_str(tokenizer.to_str())
        self.copy.no_truncation()
        self.copy.no_padding()

    def __call__(self, text: str) -> int:
        return len(self.copy.encode(text, add_special_tokens=False).ids)

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens of each text (special tokens not counted), as int64."""
        encodings = self.copy.encode_batch(list(texts), add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), np.int64, count=len(encodings))


def token_counter(tokenizer) -> TokenCounter:
    """A :class:`TokenCounter` of ``tokenizer``: ``counter(text)`` is the number of tokens of a text."""
    return TokenCounter(tokenizer)


def length_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, *, by_length: bool = True) -> list[np.ndarray]:
    """The positions of each batch: texts of similar token length together (longest first, ties in input order),
    so a short text is not padded to the longest of the whole call; ``by_length=False`` keeps the input order
    (the unsorted path, for tests and the benchmark). The caller writes each batch's rows back to its positions,
    so the output stays in the input order."""
    n = len(lengths)
    order = np.argsort(-np.asarray(lengths, np.int64), kind="stable") if by_length else np.arange(n)
    return [order[start : start + batch_size] for start in range(0, n, max(1, batch_size))]


class OnnxEncoder:
    """An exported sentence model run by ONNX Runtime: ``encode(texts)`` gives L2-normalised float32 rows."""

    def __init__(self, onnx_file: str | Path, model_path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(onnx_file)
        if not self.path.is_file():
            raise FileNotFoundError(f"no exported model at {self.path}")
        self.tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self.max_seq_length = max_seq_length(Path(model_path))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()
        self.counter = token_counter(self.tokenizer)
        #: the int8 export runs each text alone (module docstring): per-tensor scales of one text, batch-independent
        self.per_text = self.path.name == FILES["onnx-int8"]
        #: texts run at once when ``per_text``: one per core, each session run on one thread
        self.workers = max(1, threads or os.cpu_count() or 1) if self.per_text else 1
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if self.per_text else threads or 0  # 0: one thread per physical core
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.short_session = None  # the int8 export's float32 twin, for short texts (FLOAT_BELOW_TOKENS)
        twin = self.path.with_name(FILES["onnx"])
        if self.per_text and twin.is_file():
            self.short_session = ort.InferenceSession(str(twin), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.width = int(self.session.get_outputs()[0].shape[-1])

    def get_sentence_embedding_dimension(self) -> int:
        return self.width

    def readable(self, text: str) -> str:
        """The part of ``text`` the model reads (:func:`readable_part`): a long text is not tokenised whole."""
        return readable_part(text, self.max_seq_length, self.counter)

    def _run(self, encodings: Sequence) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        session = self.short_session if self.short_session and length < FLOAT_BELOW_TOKENS else self.session
        return session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = True,
        show_progress_bar: bool = False,
        by_length: bool = True,
        **_: object,
    ) -> np.ndarray:
        """Rows in the order of ``texts``. Every text is tokenised once, then run in batches of similar token
        length (:func:`length_batches`; ``by_length=False``: in the input order, padded to each batch's longest);
        the int8 export's texts each alone (``per_text``), whatever ``batch_size`` says."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.empty((len(texts), self.width), np.float32)
        encodings = self.tokenizer.encode_batch([self.readable(t) for t in texts]) if texts else []
        if self.per_text:  # each text alone, one per worker (ONNX Runtime runs one session from several threads)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.workers) as pool:
                for row, vector in enumerate(pool.map(lambda e: self._run([e])[0], encodings)):
                    out[row] = vector
        else:
            for rows in length_batches([len(e.ids) for e in encodings], batch_size, by_length=by_length):
                out[rows] = self._run([encodings[i] for i in rows])
        if normalize_embeddings and len(out):  # the graph normalises; again in float32 for exact unit rows
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


class AutocastEncoder:
    """A sentence-transformers model run under ``torch.autocast("cpu", dtype=torch.bfloat16)``: the matrix
    products in bfloat16 (oneDNN runs them on AMX tiles where the CPU has AMX-BF16, on AVX512-BF16 dot products
    otherwise), everything else float32. The ``torch-bf16`` backend. Shares the float32 model (no second
    copy of the weights); every other attribute is the model's."""

    def __init__(self, model) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def encode(self, texts, *, normalize_embeddings: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        import torch

        kwargs["convert_to_numpy"] = False
        kwargs["convert_to_tensor"] = True
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.model.encode(texts, normalize_embeddings=False, **kwargs)
        vectors = out.float().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, np.float32)
        if normalize_embeddings and len(vectors):  # in float32, for exact unit rows
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
        return vectors.astype(np.float32, copy=False)


def _fuse(raw: Path, fused: Path, model_path: Path) -> int:
    """Write ``raw`` with ONNX Runtime's BERT fusions to ``fused``; the number of fused ``Attention`` ops."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_path / "config.json").read_text())
    optimized = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=0,  # the offline fusions only: the session applies its own optimisations when it loads
    )
    optimized.save_model_to_file(str(fused))
    return sum(node.op_type == "Attention" for node in optimized.model.graph.node)


def _products(graph) -> list[tuple[Any, str]]:  # type: ignore[no-untyped-def]
    """Each weight product of the fused encoder and its kind: ``qkv`` (an ``Attention``), ``out`` (the attention
    output projection), ``up`` and ``down`` (the feed-forward projections). Activation x activation products (inside
    ``Attention``) are not among them."""
    weights = {i.name for i in graph.initializer}
    found = []
    for node in graph.node:
        if node.op_type == "Attention":
            found.append((node, "qkv"))
        elif node.op_type == "MatMul" and len(node.input) > 1 and node.input[1] in weights:
            kind = "out" if "/attention/" in node.name else "up" if "/intermediate/" in node.name else "down"
            found.append((node, kind))
    return found


def _layer(node) -> int:  # type: ignore[no-untyped-def]
    match = re.search(r"layer\.(\d+)/", node.name) or re.search(r"Attention_(\d+)$", node.name)
    if match is None:
        raise ValueError(f"{node.name}: not a product of a numbered encoder layer")
    return int(match.group(1))


def _input_ranges(model, texts: Sequence[str], model_path: Path) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per input channel, the largest ``|x|`` of each weight product's input over the tokens of ``texts``, each text
    run alone through the float32 ``model`` (no padding tokens)."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = sorted({node.input[0] for node, _ in _products(probe.graph)})
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_seq_length(model_path))
    ranges: dict[str, np.ndarray] = {}
    for text in texts:
        ids = np.asarray([tokenizer.encode(text).ids], np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        for name, value in zip(names, session.run(names, feed), strict=True):
            top = np.abs(value.reshape(-1, value.shape[-1])).max(0)
            ranges[name] = np.maximum(ranges[name], top) if name in ranges else top
    return ranges


def smooth(model, ranges: dict[str, np.ndarray], alpha: float = SMOOTH_ALPHA):  # type: ignore[no-untyped-def]
    """SmoothQuant on the fused graph, in place: each weight product ``x W`` becomes ``(x / s) (s W)`` with
    ``s_j = max|x_j|^alpha / max_k |W_jk|^(1 - alpha)`` (clipped to [1e-3, 1e3]), ``ranges`` the ``max|x_j|`` of
    :func:`_input_ranges`. Exact in float arithmetic; int8 then sees inputs without outlier channels. The
    attention output projection's ``1/s`` goes into the value columns of its layer's ``Attention`` weight and bias
    (the attention context is linear in the values, channel by channel); the other products get a ``Mul``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    tensors = {t.name: t for t in graph.initializer}
    attention = {_layer(node): node for node, kind in _products(graph) if kind == "qkv"}
    muls = []
    for node, kind in _products(graph):
        source = node.input[0]
        weight = numpy_helper.to_array(tensors[node.input[1]]).astype(np.float64)
        spread = np.maximum(np.abs(weight).max(1), 1e-5)
        s = np.clip(np.maximum(ranges[source], 1e-5) ** alpha / spread ** (1 - alpha), 1e-3, 1e3)
        tensors[node.input[1]].CopyFrom(
            numpy_helper.from_array((weight * s[:, None]).astype(np.float32), node.input[1])
        )
        if kind == "out":
            for name in attention[_layer(node)].input[1:3]:  # qkv weight (hidden x 3 hidden) and bias
                value = numpy_helper.to_array(tensors[name]).astype(np.float64)
                width = value.shape[-1] // 3
                value[..., 2 * width :] /= s
                tensors[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
            continue
        scale = f"{node.name}/smooth_scale"
        graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), scale))
        node.input[0] = f"{source}/smoothed_for/{node.name}"
        muls.append((node, helper.make_node("Mul", [source, scale], [node.input[0]], name=f"{node.name}/smooth")))
    for consumer, mul in muls:  # each Mul right before its product: the graph stays in topological order
        graph.node.insert(list(graph.node).index(consumer), mul)
    return model


def export(out_dir: str | Path, model_path: str | Path, calibration: Sequence[str]) -> Path:
    """Export the sentence model at ``model_path`` (mean pooling) to ONNX, float32 and int8, into ``out_dir``;
    ``calibration``: the texts that set the int8 export's smoothing scales (``python -m analysis export-model``
    passes :data:`CALIBRATION_TEXTS` real demo texts, :func:`analysis.demo.calibration_texts`)."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    model_path, out_dir = Path(model_path), Path(out_dir)
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_path}: only mean pooling is exported, the model's pooling is {pooling}")
    # eager attention: the SDPA path has data-dependent shortcuts (e.g. no mask when nothing is padded)
    # that a trace would freeze; traced with a padded row so the mask is part of the graph
    bert = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class Sentence(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.full((2, 16), 1000, dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tmp-export-") as scratch:
        fp32, int8 = Path(scratch) / FILES["onnx"], Path(scratch) / FILES["onnx-int8"]
        raw = Path(scratch) / "traced.onnx"
        dynamic = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                Sentence(bert).eval(),
                (ids, mask, torch.zeros_like(ids)),
                str(raw),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "token_type_ids": dynamic},
                opset_version=17,
                dynamo=False,
            )
        layers = int(json.loads((model_path / "config.json").read_text())["num_hidden_layers"])
        attention = _fuse(raw, fp32, model_path)
        if attention != layers:  # another onnxruntime's optimizer: the traced graph is as exact, only slower
            os.replace(raw, fp32)
        texts = list(calibration)
        fused = onnx.load(str(fp32))
        smoothed = Path(scratch) / "smoothed.onnx"
        onnx.save(smooth(fused, _input_ranges(fused, texts, model_path)), str(smoothed))
        quantize_dynamic(
            str(smoothed),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        (out_dir / STAMP).unlink(missing_ok=True)
        for name in FILES.values():
            os.replace(Path(scratch) / name, out_dir / name)
    stamp = {
        "version": EXPORT_VERSION,
        "model": str(model_path),
        "fused_attention": attention if attention == layers else 0,
        "int8": f"every weight product, SmoothQuant alpha {SMOOTH_ALPHA} on {len(texts)} calibration texts",
        "float_below_tokens": FLOAT_BELOW_TOKENS,
    }
    (out_dir / STAMP).write_text(json.dumps(stamp, indent=1))
    return out_dir
