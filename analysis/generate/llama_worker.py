"""The local model's worker process: llama.cpp runs here, so a native crash ends this process only.

llama.cpp is native code; a build that uses an instruction the machine does not allow (AMX or
AVX-512 on a guest that reports but does not enable them) dies with SIGILL, and a bug can die with
SIGSEGV. Run in the caller's process, either would take the Streamlit server (and every session on
it) or the CLI down with no message. :class:`analysis.generate.backends.LlamaWorker` starts this
file as a child process and turns its death into a :class:`GenerationError`.

Protocol, one JSON object per line: the parent writes ``{"model_path", "n_ctx", "n_threads"}``
once and the worker answers ``{"ready": true, "system_info": ...}`` or ``{"error": ...}``; then
for each ``{"requests": [...]}`` it answers ``{"answers": [...]}``, where each answer is
``{"text", "finish_reason"}`` or ``{"error": ...}``. It exits when its input closes, so it never
outlives its parent. This file imports nothing of the project: it starts in about a second.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever llama.cpp prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    settings = json.loads(sys.stdin.readline() or "{}")
    try:
        import llama_cpp

        llama = llama_cpp.Llama(
            model_path=settings["model_path"],
            n_ctx=settings["n_ctx"],
            n_threads=settings["n_threads"],
            verbose=False,
            seed=0,
        )
    except Exception as exc:  # reported to the parent as a clear GenerationError
        send({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    send({"ready": True, "system_info": llama_cpp.llama_print_system_info().decode(errors="replace")})
    for line in sys.stdin:
        answers = []
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
                answers.append(
                    {"text": choice["message"]["content"] or "", "finish_reason": choice.get("finish_reason")}
                )
            except Exception as exc:
                answers.append({"error": f"{type(exc).__name__}: {exc}"})
        send({"answers": answers})
    llama.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
