"""The local model's worker process: llama.cpp runs here, so a native crash ends this process only.

llama.cpp is native code; a build that uses an instruction the machine does not allow (AMX or
AVX-512 on a guest that reports but does not enable them) dies with SIGILL, and a bug can die with
SIGSEGV. Run in the caller's process, either would take the Streamlit server (and every session on
it) or the CLI down with no message. :class:`analysis.generate.backends.LlamaWorker` starts this
file as a child process and turns its death into a :class:`GenerationError`.

Protocol, one JSON object per line: the parent writes ``{"model_path", "n_ctx", "n_threads",
"n_threads_batch"}`` once; the worker answers ``{"loading": true}`` once llama.cpp is imported, then
``{"ready": true, "system_info": ...}`` or ``{"error": ...}``; then for each ``{"requests": [...]}``
it answers one line per request, in order, as each is done: ``{"answer": {"text",
"finish_reason"}}`` or ``{"answer": {"error": ...}}``.

It never outlives its parent: it exits when its input closes (between requests), and a watchdog
thread ends it within a second when the parent process is gone (its parent pid changes), even in
the middle of a long completion: llama.cpp runs with the GIL released. (Not ``PR_SET_PDEATHSIG``:
that fires when the parent *thread* ends, and the app starts the worker from a Streamlit script
thread that ends after each run.) This file imports nothing of the project: it starts in about a
second.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """End this process as soon as ``parent`` is no longer its parent (it died; we were re-parented)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main() -> int:
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    watch_parent(parent)  # also covers a parent that died before this line: getppid() differs already
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever llama.cpp prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    settings = json.loads(sys.stdin.readline() or "{}")
    try:
        import llama_cpp

        send({"loading": True})
        llama = llama_cpp.Llama(
            model_path=settings["model_path"],
            n_ctx=settings["n_ctx"],
            # both set: llama-cpp-python's default batch (prompt) thread count is every core, and
            # llama.cpp's threads spin-wait, which collapses when anything else runs on the machine
            n_threads=settings["n_threads"],
            n_threads_batch=settings.get("n_threads_batch") or settings["n_threads"],
            verbose=False,
            seed=0,
        )
    except Exception as exc:  # reported to the parent as a clear GenerationError
        send({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    send({"ready": True, "system_info": llama_cpp.llama_print_system_info().decode(errors="replace")})
    for line in sys.stdin:
        for request in json.loads(line)["requests"]:
            try:
                result = llama.create_chat_completion(
                    messages=request["messages"],
                    max_tokens=request["max_tokens"],
                    temperature=request["temperature"],
                    top_p=request["top_p"],
                    seed=request["seed"],
                )
                choice = result["choices"][0]  # type: ignore[index]  # not streamed: one response
                answer = {"text": choice["message"]["content"] or "", "finish_reason": choice.get("finish_reason")}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            send({"answer": answer})
    llama.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
