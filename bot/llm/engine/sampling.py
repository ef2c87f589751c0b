"""Choosing one request's next token from its logits row: penalties, grammar, greedy or sampling.

Each request in a batch keeps its own options (greedy or sampling, temperature, top-k/top-p,
repetition penalty, a seed) and its own logits processors (the tool-call grammar's matcher
follows exactly one sequence), so the batch's logits are split into rows and every row is
processed as if it had been decoded alone. The transformers processors used are the ones
``generate()`` uses for the same options.
"""

from __future__ import annotations

from typing import Any

import torch

from bot.llm.engine.options import DecodingOptions


def warpers(options: DecodingOptions) -> list[Any]:
    """The processors ``options`` ask for, in generate()'s order (penalty first, warpers last)."""
    from transformers import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    found: list[Any] = []
    if options.repetition_penalty != 1.0:
        found.append(RepetitionPenaltyLogitsProcessor(options.repetition_penalty))
    if options.decoding == "sample":
        if options.temperature != 1.0:
            found.append(TemperatureLogitsWarper(options.temperature))
        if options.top_k:
            found.append(TopKLogitsWarper(options.top_k))
        if options.top_p < 1.0:
            found.append(TopPLogitsWarper(options.top_p))
    return found


class TokenChooser:
    """One request's token choice: its history, processors, warpers and random generator."""

    def __init__(
        self, prompt: list[int], options: DecodingOptions, processors: list[Any], device: str
    ) -> None:
        self.sample = options.decoding == "sample"
        all_warpers = warpers(options)
        # The repetition penalty comes before the grammar, sampling warpers after it.
        self.pipeline = [*all_warpers[:1], *processors, *all_warpers[1:]]
        if options.repetition_penalty == 1.0:
            self.pipeline = [*processors, *all_warpers]
        self.history = torch.tensor([prompt], dtype=torch.long, device=device)
        self.generator: torch.Generator | None = None
        if self.sample and options.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(options.seed)

    def choose(self, logits: torch.Tensor) -> int:
        """The next token for this request from its logits row ``[V]``."""
        scores = logits[None].float()
        for step in self.pipeline:
            scores = step(self.history, scores)
        if self.sample:
            probs = torch.softmax(scores, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=self.generator)[0, 0])
        else:
            token = int(scores[0].argmax())
        self.history = torch.cat([self.history, self.history.new_tensor([[token]])], dim=1)
        return token
