"""The Generate page when the local model's worker process dies mid-run: a message, not an outage."""

import os
import signal
from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.generate.backends import LlamaWorker, LocalBackend

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_a_crashed_local_model_leaves_the_app_answering_and_the_run_resumable(monkeypatch):
    worker = LocalBackend().worker  # the app's sessions share this process's worker
    send = LlamaWorker._send
    batches, armed = [], [True]

    def send_then_die(self, message):
        send(self, message)
        if "requests" in message and armed:
            batches.append(message)
            if len(batches) == 1:  # mid-batch (the library test covers a crash after checkpointed batches)
                os.kill(self.pid, signal.SIGILL)

    monkeypatch.setattr(LlamaWorker, "_send", send_then_die)
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/generate.py").run()
    at.selectbox(key="gen_method").set_value("paraphrase").run()
    at.number_input(key="gen_n").set_value(2).run()
    at.number_input(key="gen_max_tokens").set_value(64).run()
    at.button(key="gen_start").click().run()

    assert not at.exception, [e.value for e in at.exception]
    [error] = at.error
    shown = error.value.replace("\\", "")  # the page escapes markdown in messages
    assert "killed by SIGILL" in shown and "keep running" in shown
    assert "COLLAPSE_LAB_OPENAI_BASE_URL" in shown

    armed.clear()
    at.run()  # the app still answers, and offers to continue the run
    assert not at.exception and not at.error
    assert any("stopped at" in info.value and "Generate continues it" in info.value for info in at.info)
    at.button(key="gen_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Added 2 paraphrase-2 samples" in s.value for s in at.success), [s.value for s in at.success]
    assert worker.pid is not None  # a fresh worker took over
