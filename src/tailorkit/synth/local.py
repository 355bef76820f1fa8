"""The local in-process teacher: a model (the bundled SmolLM2 by default) behind the inference layer's
engine (infer.open_engine, teacher.engine: HF or llama.cpp), offline.

Generation is blocking, so it runs in one worker thread while the asyncio runner stays the same
as for endpoints. Requests that arrive together are generated as one batch (same decoding
settings only), which is several times faster on a CPU than one prompt at a time.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config.synth import TeacherConfig
from .teacher import Completion, Usage


class LocalTeacher:
    """`teacher.model` is a model reference: bundled name, local folder, or Hub id in the cache."""

    is_local = True
    host = "local"

    def __init__(self, cfg: TeacherConfig) -> None:
        self.cfg = cfg
        self.model = cfg.model
        self.ident = f"local:{cfg.model}"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailor-teacher")
        self._pending: list[tuple[list[dict], dict[str, Any], asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._engine = None

    def _load(self):
        if self._engine is None:
            from ..config import TailorConfig
            from ..config.generation import GenerationConfig
            from ..config.project import ModelConfig
            from ..infer import open_engine

            project = TailorConfig(model=ModelConfig(base=self.cfg.model),
                                   generation=GenerationConfig(engine=self.cfg.engine))
            self._engine = open_engine(project, "base", device=self.cfg.device)
        return self._engine

    async def probe(self) -> None:
        """Load the model now, so a missing model fails before the progress bar starts."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def complete(self, messages: list[dict], params: dict[str, Any]) -> Completion:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((messages, params, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(0)  # let requests issued in the same tick join this batch
            key = _params_key(self._pending[0][1])
            batch = [p for p in self._pending if _params_key(p[1]) == key][: self.cfg.batch_size]
            for item in batch:
                self._pending.remove(item)
            live = [item for item in batch if not item[2].done()]
            if not live:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._generate,
                                                     [m for m, _, _ in live], live[0][1])
            except Exception as exc:  # e.g. a model that cannot load: every waiting caller sees it
                for _, _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, _, fut), result in zip(live, results):
                if not fut.done():
                    fut.set_result(result)

    def _generate(self, conversations: list[list[dict]], params: dict[str, Any]) -> list[Completion]:
        from ..config.generation import GenerationConfig

        engine = self._load()
        gen_cfg = GenerationConfig(
            max_new_tokens=int(params.get("max_tokens") or self.cfg.max_tokens),
            temperature=float(params.get("temperature") or 0.0),
            top_p=float(params.get("top_p") or 1.0),
            seed=int(params.get("seed") or 0),
        )
        # One batch of the runner's rows: the runner's own bar shows the progress.
        gens = engine.generate(conversations, gen_cfg, batch_size=len(conversations), show_progress=False)
        return [Completion(text=gen.text, finish_reason=gen.finish_reason, usage=Usage(gen.prompt_tokens, gen.n_tokens))
                for gen in gens]

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _params_key(params: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "response_format"}, sort_keys=True)
