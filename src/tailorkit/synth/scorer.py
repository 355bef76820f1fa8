"""Offline candidate selection: which request makes the output most likely under the student model.

For each (request, output) pair the student's chat template renders user=request, assistant=output;
the score is the mean negative log-likelihood of the output's tokens (lower = the request explains
the output better). The output span comes from the rendered template's token positions: the prompt
part (with the generation prompt) is a token prefix of the full conversation.
"""
from __future__ import annotations

import threading

from ..config.project import ModelConfig


class LikelihoodScorer:
    """Loads the student model on first use; safe to call from one worker thread at a time."""

    def __init__(self, model_cfg: ModelConfig, device: str | None = None, batch_size: int = 8) -> None:
        self.model_cfg = model_cfg
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            from ..models import load_model_and_tokenizer

            self._model, self._tok = load_model_and_tokenizer(self.model_cfg, device=self.device)
            self._model.eval()
        return self._model, self._tok

    def _encode(self, request: str, output: str, system: str | None) -> tuple[list[int], int]:
        tok = self._tok
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": request}]
        prefix = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": output}], tokenize=True,
                                       return_dict=False)
        prefix, full = list(prefix), list(full)
        if full[: len(prefix)] != prefix:  # a template that re-tokenises across the boundary
            full = prefix + tok(output, add_special_tokens=False)["input_ids"]
        return full, len(prefix)

    def nll(self, pairs: list[tuple[str, str]], system: str | None = None) -> list[float]:
        """Mean NLL per output token for each (request, output) pair."""
        import torch
        import torch.nn.functional as F

        with self._lock:
            model, tok = self._load()
            encoded = [self._encode(req, out, system) for req, out in pairs]
            scores: list[float] = []
            device = next(model.parameters()).device
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            for start in range(0, len(encoded), self.batch_size):
                chunk = encoded[start:start + self.batch_size]
                width = max(len(ids) for ids, _ in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                labels = torch.full((len(chunk), width), -100, dtype=torch.long)
                for row, (seq, cut) in enumerate(chunk):
                    ids[row, : len(seq)] = torch.tensor(seq)
                    mask[row, : len(seq)] = 1
                    labels[row, cut: len(seq)] = torch.tensor(seq[cut:])
                with torch.inference_mode():
                    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
                shift_logits, shift_labels = logits[:, :-1], labels[:, 1:].to(device)
                losses = F.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=-100,
                                         reduction="none")
                counts = (shift_labels != -100).sum(dim=1).clamp(min=1)
                scores.extend((losses.sum(dim=1) / counts).tolist())
            return scores
