"""Sentence embeddings: the model, its fast backends (ONNX, int8), the on-disk cache, and Ray."""
