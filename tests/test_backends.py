"""The OpenAI-compatible backend against llama-cpp-python's own server on loopback, and its failures."""

import http.server
import os
import sys
import threading

import pytest

from analysis.demo import load_demo
from analysis.generate import GenerationError, OpenAIBackend, generate
from analysis.generate.backends import Request, smollm2_path
from tests.servers import free_port, running

pytestmark = pytest.mark.slow  # the bundled LLM behind llama-cpp-python's server


@pytest.fixture(scope="session")
def real():
    demo = load_demo(synthetic=False)
    return demo[demo["text"].str.len() < 260].groupby("label").head(3).reset_index(drop=True)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` with the bundled SmolLM2 on a loopback port; stopped after the session."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm2_path()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--verbose",
        "false",
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with running(command, f"{base_url}/models", tmp_path_factory.mktemp("server") / "server.log"):
        yield base_url


def test_generate_through_the_openai_compatible_server(llama_server, real, tmp_path):
    key = "sk-test-not-a-real-key"
    backend = OpenAIBackend(llama_server, "smollm2", key, concurrency=2)
    checkpoint = tmp_path / "run.jsonl"
    generated = generate("paraphrase", real, 3, seed=1, backend=backend, max_tokens=96, checkpoint=checkpoint)
    frame = generated.samples
    assert len(frame) == 3 and frame["text"].is_unique
    assert set(frame["backend"]) == {"openai"} and set(frame["model"]) == {"smollm2"}
    assert frame["parent_id"].isin(real["id"]).all()
    # the key is never written anywhere
    assert key not in checkpoint.read_text() and key not in frame.to_json() and key not in repr(backend)
    assert key not in str(generated.report)


def test_settings_come_from_the_environment(llama_server, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("COLLAPSE_LAB_OPENAI_MODEL", "smollm2")
    monkeypatch.setenv("COLLAPSE_LAB_OPENAI_API_KEY", "sk-secret-value")
    backend = OpenAIBackend()
    assert backend.base_url == llama_server and backend.model == "smollm2"
    assert "sk-secret-value" not in repr(backend)
    [answer] = backend.complete_many([Request([{"role": "user", "content": "Say hello."}], max_tokens=8)])
    assert answer.text.strip()


def test_no_endpoint_configured(monkeypatch):
    for name in ("COLLAPSE_LAB_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(GenerationError, match="No OpenAI-compatible endpoint is configured"):
        OpenAIBackend()


def test_an_endpoint_that_is_down_gives_a_clear_error_and_keeps_what_was_made(llama_server, real, tmp_path):
    checkpoint = tmp_path / "run.jsonl"
    up = OpenAIBackend(llama_server, "smollm2", concurrency=1)
    generate("paraphrase", real, 2, seed=4, backend=up, checkpoint=checkpoint, max_tokens=96)
    down = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "smollm2", max_retries=2, backoff=0.01, concurrency=1)
    kept_before = checkpoint.read_text()
    with pytest.raises(GenerationError, match=r"not answering.*after 3 attempts.*kept") as error:
        generate("paraphrase", real, 4, seed=4, backend=down, checkpoint=tmp_path / "other.jsonl", max_tokens=96)
    assert "0 of 4 samples were accepted and kept" in str(error.value)
    assert checkpoint.read_text() == kept_before


class Garbage(http.server.BaseHTTPRequestHandler):
    """A test endpoint: answers nonsense (HTML, or JSON without choices) or, in mode "ok", one chat completion.

    It records the Authorization header of every request in ``server.seen``.
    """

    BODIES = {
        "html": b"<html>bad gateway</html>",
        "json": b'{"object": "error"}',
        "ok": b'{"choices": [{"message": {"content": "Hello."}, "finish_reason": "stop"}]}',
    }

    def do_POST(self):
        getattr(self.server, "seen", []).append(self.headers.get("Authorization"))
        body = self.BODIES[self.server.mode]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode, message", [("html", "not JSON"), ("json", "not a chat completion")])
def test_an_endpoint_that_answers_garbage(mode, message):
    server = http.server.HTTPServer(("127.0.0.1", 0), Garbage)
    server.mode = mode
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_port}/v1", "x", max_retries=0)
        with pytest.raises(GenerationError, match=message):
            backend.complete(Request([{"role": "user", "content": "hi"}]))
    finally:
        server.shutdown()


def test_partial_failure_keeps_the_samples_before_it(real, tmp_path):
    """A batch whose third request fails: the first two are checkpointed, a resume goes on from the third."""
    from analysis.generate.backends import Completion

    class Flaky:
        name, model = "flaky", "none"

        def __init__(self):
            self.calls = 0

        def complete_many(self, requests):
            answers = []
            for _request in requests:
                self.calls += 1
                if self.calls == 3:
                    answers.append(GenerationError("The endpoint is not answering (HTTP 503)."))
                else:
                    answers.append(Completion(f"Generated sample number {self.calls} about a topic."))
            return answers

    checkpoint = tmp_path / "run.jsonl"
    flaky = Flaky()
    with pytest.raises(GenerationError, match="2 of 4 samples were accepted and kept"):
        generate("llm", real, 4, backend=flaky, checkpoint=checkpoint, batch_size=4)
    frame = generate("llm", real, 4, backend=flaky, checkpoint=checkpoint, batch_size=4).samples
    assert len(frame) == 4 and frame["text"].is_unique
    assert os.path.exists(checkpoint)


def test_a_password_in_the_endpoint_url_is_masked_everywhere_and_sent_as_basic_auth(monkeypatch):
    monkeypatch.setenv(
        "COLLAPSE_LAB_OPENAI_BASE_URL", f"http://user:PASSWORD@127.0.0.1:{free_port()}/v1?key=QUERYSECRET"
    )
    down = OpenAIBackend(max_retries=0, timeout=2)
    [answer] = down.complete_many([Request([{"role": "user", "content": "hi"}])])
    assert isinstance(answer, GenerationError) and "not answering" in str(answer)
    for shown in (str(answer), repr(down), down.shown_url):
        assert "PASSWORD" not in shown and "QUERYSECRET" not in shown and "***" in shown

    server = http.server.HTTPServer(("127.0.0.1", 0), Garbage)
    server.mode, server.seen = "ok", []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        up = OpenAIBackend(f"http://user:PASSWORD@127.0.0.1:{server.server_port}/v1", "x", max_retries=0)
        assert up.complete(Request([{"role": "user", "content": "hi"}])).text == "Hello."
        assert server.seen == ["Basic dXNlcjpQQVNTV09SRA=="]  # base64("user:PASSWORD")
    finally:
        server.shutdown()
