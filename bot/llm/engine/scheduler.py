"""Continuous batching: one thread owns the model and decodes every live request in one batch.

Conversations submit a tokenized prompt with their own decoding options, stop strings and
logits processors (the tool-call grammar) and read the reply back as text pieces through a
queue. Between decode steps the scheduler admits waiting requests (first come, first served,
up to ``max_batch`` rows): each is prefilled alone, starting from the prefix cache when its
prompt extends one already seen, ``PREFILL_CHUNK`` prompt tokens per step (so a long prompt does
not stall the rows decoding, and a request stopped meanwhile ends within one chunk), and joins
the running batch left-padded. Every
step feeds one token per row, so every live request advances once per step (no request
starves), and a finished, cancelled or failed request leaves at the step boundary without
disturbing the rest.
A failure in one request's token choice fails that request only; a failing forward pass fails
the requests in that batch and the scheduler carries on with later ones.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bot.llm.engine.fast_decode import FastDecoder
from bot.llm.engine.kv_cache import BatchKV, SlabCache, cache_kwargs
from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions, StopFilter
from bot.llm.engine.prefix_cache import PrefixCache
from bot.llm.engine.sampling import TokenChooser
from bot.priority import URGENT, Budget, Priority, current_stop

log = logging.getLogger(__name__)

# Errors a forward pass or a token choice raises for a bad request or a failing device.
STEP_ERRORS = (RuntimeError, ValueError, IndexError, AssertionError, TypeError)

# Prompt tokens fed per step while other rows decode (see Scheduler._prefill_some).
PREFILL_CHUNK = 128
# Prompt lookup: the lengths of the sequence's tail looked up (longest first).
LOOKUP_NGRAMS = (3, 2)


def lookup_draft(
    tokens: Sequence[int], size: int, ngrams: Sequence[int] = LOOKUP_NGRAMS
) -> list[int]:
    """The ``size`` tokens that followed the latest earlier occurrence of the sequence's tail.

    Tries each tail length in ``ngrams``; an empty list when none occurred before.
    """
    for n in ngrams:
        if len(tokens) <= n:
            continue
        tail = list(tokens[-n:])
        last = tail[-1]
        for end in range(len(tokens) - 2, n - 2, -1):  # ``end``: where an earlier tail would end
            if tokens[end] == last and list(tokens[end - n + 1 : end + 1]) == tail:
                return list(tokens[end + 1 : end + 1 + size])
    return []


@dataclass
class Finished:
    """What a request produced: its text (cut at a stop string), tokens and timings."""

    text: str
    tokens: int
    reason: str  # "eos" | "length" | "stop" | "loop" | "cancelled"
    submitted: float
    first_token: float
    done: float
    token_ids: list[int] = field(default_factory=list)

    @property
    def decode_tok_s(self) -> float:
        span = self.done - self.first_token
        return (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0


@dataclass
class _Request:
    prompt: list[int]
    options: DecodingOptions
    chooser: TokenChooser
    out: queue.Queue[Any] = field(default_factory=queue.Queue)
    generated: list[int] = field(default_factory=list)
    decoded: str = ""  # text of ``generated`` already passed to the stop filter
    shown: list[str] = field(default_factory=list)
    pending: int = -1  # chosen, not yet fed to the model
    windows: set[tuple[int, ...]] = field(default_factory=set)  # every loop-length span so far
    cancelled: bool = False
    # Set by the caller's ``bot.priority.stop_scope`` when nobody wants the reply any more.
    stop: threading.Event | None = field(default_factory=current_stop)
    submitted: float = field(default_factory=time.perf_counter)
    first_token: float = 0.0
    stops: StopFilter = field(init=False)

    def __post_init__(self) -> None:
        self.stops = StopFilter(self.options.stop)


@dataclass
class _Prefill:
    """A request whose prompt is being fed: its own cache, and how many tokens it holds."""

    request: _Request
    cache: SlabCache
    done: int


class GenerationHandle:
    """A submitted request: iterate for text pieces, or ``result()`` for the whole reply."""

    def __init__(self, request: _Request) -> None:
        self._request = request
        self.finished: Finished | None = None

    def __iter__(self) -> Generator[str, None, None]:
        if self.finished is not None:
            return  # already read to the end
        try:
            while True:
                item = self._request.out.get()
                if isinstance(item, Finished):
                    self.finished = item
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if self.finished is None:
                self._request.cancelled = True  # the reader left: free the batch row

    def result(self) -> Finished:
        """Wait for the whole reply (raises what made the request fail); may be called again."""
        for _ in self:
            pass
        assert self.finished is not None
        return self.finished


class Scheduler:
    """The decode loop for one loaded model; start it lazily with ``submit``."""

    def __init__(
        self,
        loaded: LoadedModel,
        max_batch: int = 8,
        prefix_cache: PrefixCache | None = None,
        fast: bool = True,
        priority: Priority | None = URGENT,
    ) -> None:
        self.loaded = loaded
        # On the CPU, forward passes pause between layers while requests are answered: they
        # share the cores (bot/priority.py). A GPU's passes leave the cores to the server.
        self.priority = priority if loaded.device == "cpu" else None
        self._budget: Budget | None = None
        self._layers = _decoder_layers(loaded.model) if self.priority is not None else []
        # Decode steps skip transformers' per-module overhead where the architecture allows.
        self.fast = FastDecoder.build(loaded.model) if fast else None
        self.max_batch = max_batch
        self.prefix_cache = prefix_cache
        self._waiting: deque[_Request] = deque()
        self._active: list[_Request] = []
        self._prefilling: deque[_Prefill] = deque()
        self._batch: BatchKV | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        config = loaded.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else None
        eos = eos if eos is not None else loaded.tokenizer.eos_token_id
        self.eos: set[int] = set(eos if isinstance(eos, list) else [eos])
        self.layers = int(loaded.model.config.num_hidden_layers)
        self.steps = 0
        self.max_rows_seen = 0
        # Plain decode steps by row count: how many, and their forward passes' seconds, for
        # throughput at a given batch size without prefill (bench_batch.py). Recorded before
        # the step's tokens are chosen, so a reader woken by a finished reply sees its step.
        self.step_counts: dict[int, int] = {}
        self.step_seconds: dict[int, float] = {}
        self.drafted = 0  # tokens proposed by prompt lookup
        self.accepted = 0  # of those, tokens the model chose too

    def submit(
        self, prompt: Sequence[int], options: DecodingOptions, processors: Sequence[Any] = ()
    ) -> GenerationHandle:
        """Queue a request; decoding starts at the next step boundary."""
        if options.decoding == "beam":
            raise ValueError("the batching scheduler decodes greedy or sample, not beam.")
        if not prompt:
            raise ValueError("empty prompt: nothing to continue from.")
        chooser = TokenChooser(list(prompt), options, list(processors), self.loaded.device)
        request = _Request(list(prompt), options, chooser)
        with self._wake:
            if self._closed:
                raise RuntimeError("the model scheduler is closed (the process is shutting down).")
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llm-scheduler", daemon=True)
                self._thread.start()
                _RUNNING.add(self)
            self._wake.notify()
        return GenerationHandle(request)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the decode thread after its current step; unfinished requests end as cancelled.

        Runs at interpreter exit for every started scheduler: a decode thread still inside a
        torch operation while the interpreter tears down aborted the process (exit status 134,
        "terminate called without an active exception") after commands that used the model.
        """
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ---- yielding to urgent work ---------------------------------------------------------------

    @contextmanager
    def _forward(self, hooked: bool = True) -> Iterator[None]:
        """One forward pass's pause allowance, spent at checkpoints between its layers.

        ``hooked``: the pass runs through transformers' modules, so a hook before each decoder
        layer is the checkpoint (added for this pass only: the model may have other users).
        """
        if self.priority is None:
            yield
            return
        self._budget = self.priority.budget()
        hooks = (
            [layer.register_forward_pre_hook(self._hook) for layer in self._layers]
            if hooked
            else []
        )
        try:
            yield
        finally:
            self._budget = None
            for hook in hooks:
                hook.remove()

    def _checkpoint(self) -> None:
        budget = self._budget
        if budget is not None:
            budget.checkpoint()

    def _hook(self, module: nn.Module, args: Any) -> None:
        self._checkpoint()

    # ---- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._waiting or self._active or self._prefilling or self._closed):
                    self._wake.wait()
                if self._closed:
                    break
                joining: list[_Request] = []
                while (
                    self._waiting
                    and len(self._active) + len(self._prefilling) + len(joining) < self.max_batch
                ):
                    joining.append(self._waiting.popleft())
            self._honour_stops()
            with self.loaded.lock, torch.inference_mode():
                for request in joining:
                    self._begin(request)
                if self._prefilling:
                    self._prefill_some()
                if self._active:
                    self._step()
        with self._wake:
            left = [*self._waiting, *(p.request for p in self._prefilling), *self._active]
            self._waiting.clear()
            self._prefilling.clear()
            self._active, self._batch = [], None
        for request in left:
            self._finish(request, "cancelled")

    def _honour_stops(self) -> None:
        """Requests whose caller stopped them end at this boundary (as if the reader had left)."""
        for request in (*(p.request for p in self._prefilling), *self._active):
            if request.stop is not None and request.stop.is_set():
                request.cancelled = True

    def _begin(self, request: _Request) -> None:
        """Start a request's prefill from the longest cached prefix of its prompt."""
        prompt = request.prompt
        hit = self.prefix_cache.lookup(tuple(prompt)) if self.prefix_cache else None
        cache = SlabCache.from_tensors(hit.tensors) if hit else SlabCache(self.layers)
        self._prefilling.append(_Prefill(request, cache, hit.length if hit else 0))

    def _prefill_some(self) -> None:
        """Feed the oldest waiting prompt's next ``PREFILL_CHUNK`` tokens.

        Between chunks rows decode, so a joining conversation delays the others by one chunk per
        step rather than by its whole prompt; a prompt alone is fed in chunks too, so a request
        stopped meanwhile, or one that arrives, waits one chunk at most. A prompt that is
        complete joins the batch with its first token chosen.
        """
        state = self._prefilling[0]
        request, prompt = state.request, state.request.prompt
        if request.cancelled:
            self._prefilling.popleft()
            self._finish(request, "cancelled")
            return
        end = min(len(prompt), state.done + PREFILL_CHUNK)
        mask = torch.ones(1, end, dtype=torch.long, device=self.loaded.device)
        try:
            logits = self._feed(prompt[state.done : end], mask, state.cache, keep=1)
        except STEP_ERRORS as exc:
            self._prefilling.popleft()
            self._fail(request, exc)
            return
        state.done = end
        if end < len(prompt):
            return
        self._prefilling.popleft()
        if self.prefix_cache is not None:
            self.prefix_cache.store(tuple(prompt), state.cache.tensors())
        self._join(request, BatchKV(state.cache, mask), logits[-1:])

    def _feed(
        self, tokens: list[int], mask: torch.Tensor, cache: SlabCache, keep: int = 0
    ) -> torch.Tensor:
        """One sequence's ``tokens`` through the model after what ``cache`` holds.

        ``mask`` covers the cache and the new tokens; returns the logits ``[positions, V]`` of
        the last ``keep`` new tokens (0: all of them).
        """
        device = self.loaded.device
        end = int(mask.shape[1])
        with self._forward():
            out = self.loaded.model(
                input_ids=torch.tensor([tokens], device=device),
                attention_mask=mask,
                position_ids=torch.arange(end - len(tokens), end, device=device)[None],
                **cache_kwargs(self.loaded.model, cache),
                use_cache=True,
                logits_to_keep=keep,
            )
        logits: torch.Tensor = out.logits[0]
        return logits

    def _join(self, request: _Request, kv: BatchKV, logits: torch.Tensor) -> None:
        """Choose a prefilled request's first token; unless that ends it, it joins the batch."""
        try:
            request.first_token = time.perf_counter()
            done = self._advance(request, logits[0])
        except STEP_ERRORS as exc:
            self._fail(request, exc)
            return
        if done:
            return
        self._active.append(request)
        if self._batch is None:
            self._batch = kv
        else:
            self._batch.add(kv)
        self.max_rows_seen = max(self.max_rows_seen, len(self._active))

    def _step(self) -> None:
        """One decode step for every active row, then the finished rows leave."""
        batch = self._batch
        assert batch is not None
        if len(self._active) == 1 and self._speculate(self._active[0], batch):
            return
        started, rows = time.perf_counter(), len(self._active)
        ids = torch.tensor([[r.pending] for r in self._active], device=self.loaded.device)
        positions = batch.positions()
        batch.extend_mask()
        try:
            if self.fast is not None:
                with self._forward(hooked=False):
                    logits = self.fast.step(
                        ids, positions, batch.mask, batch.cache, self._checkpoint
                    )
            else:
                with self._forward():
                    logits = self.loaded.model(
                        input_ids=ids,
                        attention_mask=batch.mask,
                        position_ids=positions,
                        **cache_kwargs(self.loaded.model, batch.cache),
                        use_cache=True,
                    ).logits[:, -1, :]
        except STEP_ERRORS as exc:
            for request in self._active:
                self._fail(request, exc)
            self._active, self._batch = [], None
            return
        self.steps += 1
        self.step_counts[rows] = self.step_counts.get(rows, 0) + 1
        self.step_seconds[rows] = self.step_seconds.get(rows, 0.0) + time.perf_counter() - started
        keep = []
        for row, request in enumerate(self._active):
            try:
                done = request.cancelled or self._advance(request, logits[row])
            except STEP_ERRORS as exc:
                self._fail(request, exc)
                continue
            if request.cancelled:
                self._finish(request, "cancelled")
            elif not done:
                keep.append(row)
        if len(keep) < len(self._active):
            self._active = [self._active[i] for i in keep]
            if keep:
                batch.keep(keep)
            else:
                self._batch = None

    def _speculate(self, request: _Request, batch: BatchKV) -> bool:
        """Prompt-lookup decoding for a conversation decoding alone; False when it does not apply.

        Greedy replies often copy spans of their prompt (a quoted passage, an argument taken
        from the request) or of themselves. When the last tokens occurred before, the tokens
        that followed them are a draft: one forward pass over the pending token and the draft
        gives the model's choice after each of them, and every draft token the model chose too
        is accepted, so one pass can yield several tokens. Choices are made one after the
        other by the request's own chooser (grammar, repetition penalty, stop strings), so
        the reply is the one plain greedy decoding gives; only the cache entries of rejected
        draft tokens are dropped.
        """
        size = request.options.draft_tokens
        if size <= 0 or request.cancelled or request.options.decoding != "greedy":
            return False
        draft = lookup_draft([*request.prompt, *request.generated], size, LOOKUP_NGRAMS)
        if not draft:
            return False
        feed = [request.pending, *draft]
        start = batch.columns
        mask = torch.cat([batch.mask, batch.mask.new_ones(1, len(feed))], dim=1)
        try:
            logits = self._feed(feed, mask, batch.cache)
        except STEP_ERRORS as exc:
            self._fail(request, exc)
            self._active, self._batch = [], None
            return True
        self.steps += 1
        self.drafted += len(draft)
        used = 0  # positions whose input token stands (their cache entries are kept)
        done = False
        try:
            for position in range(len(feed)):
                used = position + 1
                done = self._advance(request, logits[position])
                if done or position == len(draft) or request.generated[-1] != draft[position]:
                    break
                self.accepted += 1
        except STEP_ERRORS as exc:
            self._fail(request, exc)
            done = True
        if done:
            self._active, self._batch = [], None
            return True
        batch.cache.crop(start + used)
        batch.mask = mask[:, : start + used]
        return True

    # ---- per request -------------------------------------------------------------------------

    def _advance(self, request: _Request, logits: torch.Tensor) -> bool:
        """Choose the request's next token and stream its text; True when it has finished."""
        token = request.chooser.choose(logits)
        request.generated.append(token)
        if token in self.eos:
            self._finish(request, "eos")
            return True
        request.pending = token
        text = self.loaded.tokenizer.decode(request.generated, skip_special_tokens=True)
        # A multi-byte character split across tokens decodes to U+FFFD until it is complete.
        if not text.endswith("\ufffd") and text.startswith(request.decoded):
            piece = request.stops.feed(text[len(request.decoded) :])
            request.decoded = text
            if piece:
                request.shown.append(piece)
                request.out.put(piece)
            if request.stops.stopped:
                self._finish(request, "stop")
                return True
        if len(request.generated) >= request.options.max_new_tokens:
            self._finish(request, "length")
            return True
        if request.options.stop_on_loop and self._looping(request):
            self._finish(request, "loop")
            return True
        return False

    @staticmethod
    def _looping(request: _Request) -> bool:
        """Whether the reply's last ``stop_on_loop`` tokens already appeared earlier in it."""
        size = request.options.stop_on_loop
        if len(request.generated) < size:
            return False
        window = tuple(request.generated[-size:])
        if window in request.windows:
            return True
        request.windows.add(window)
        return False

    def _finish(self, request: _Request, reason: str) -> None:
        if reason != "stop":
            # Text held back while a multi-byte character was incomplete, then the stop filter's.
            text = self.loaded.tokenizer.decode(
                [t for t in request.generated if t not in self.eos], skip_special_tokens=True
            )
            rest = text[len(request.decoded) :] if text.startswith(request.decoded) else ""
            for piece in (request.stops.feed(rest), request.stops.flush()):
                if piece:
                    request.shown.append(piece)
                    request.out.put(piece)
        now = time.perf_counter()
        request.out.put(
            Finished(
                "".join(request.shown),
                len(request.generated),
                reason,
                request.submitted,
                request.first_token or now,
                now,
                list(request.generated),
            )
        )

    def _fail(self, request: _Request, exc: BaseException) -> None:
        log.warning("generation request failed: %s: %s", type(exc).__name__, exc)
        request.out.put(exc)


def _decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The model's decoder layers (its first ``layers`` module list), or none if it has none."""
    if not isinstance(model, nn.Module):
        return []
    for name, module in model.named_modules():
        if name.split(".")[-1] == "layers" and isinstance(module, nn.ModuleList):
            return list(module)
    return []


# Schedulers whose decode thread runs; each is closed at interpreter exit.
_RUNNING: weakref.WeakSet[Scheduler] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    for scheduler in list(_RUNNING):
        scheduler.close()


# Rows decoded together, and tokens of prompt caches kept for reuse, per loaded model.
MAX_BATCH = 8
PREFIX_BUDGET_TOKENS = 4096
_SCHEDULERS_LOCK = threading.Lock()


def scheduler_for(loaded: LoadedModel) -> Scheduler:
    """The one scheduler of ``loaded`` (made on first use): every conversation shares it."""
    with _SCHEDULERS_LOCK:
        if loaded.scheduler is None:
            loaded.scheduler = Scheduler(loaded, MAX_BATCH, PrefixCache(PREFIX_BUDGET_TOKENS))
        scheduler: Scheduler = loaded.scheduler
        return scheduler
