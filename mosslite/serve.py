"""`mosslite serve`: an OpenAI-compatible chat server with continuous batching, streaming and the dialogue flywheel.

Three layers, each readable on its own:
  Engine       one worker thread decodes every running request together, one forward pass per step over one KV
               cache (continuous batching): a new request is prefilled and joins at the next step, a finished one
               leaves at once, so nobody waits for the slowest answer in a batch.
  ChatService  turns OpenAI messages into a MOSS Conversation and runs the `Assistant` loop (runtime-written headers,
               per-field stop tokens, tools, history fitting) in a thread per request, with the engine as its token
               source. At most max_batch + max_queue requests are in flight; the next one gets HTTP 429 at once.
  create_app   the FastAPI routes: POST /v1/chat/completions (JSON, or server-sent events with `stream: true`),
               GET /v1/models, POST /v1/feedback, GET /health.

MOSS's own API demo answered one request at a time, never streamed and kept history in server memory; on launch night
its servers choked. Here the event loop never waits on the model, a client keeps its own history (as OpenAI's API
does), and overload is refused quickly instead of queueing without end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from mosslite.assistant import Assistant
from mosslite.chat import Conversation, MetaInstruction, Turn, fit_to_context
from mosslite.flywheel import FlywheelStore
from mosslite.generate import SamplingConfig, sample_next
from mosslite.model import KVCache, Transformer
from mosslite.tools import TOOL_LINES, BM25Index, Toolbox

MOSS_SAMPLING = SamplingConfig(temperature=0.7, top_p=0.8, repetition_penalty=1.02)  # MOSS's README settings


# ---------------------------------------------------------------------------------------------------- the engine
@dataclass(eq=False)
class _Job:
    """One field's generation: a prompt, its sampling and stop rules, and the queue its tokens go to."""

    prompt: list[int]
    max_new_tokens: int
    sampling: SamplingConfig
    stop: frozenset[int]
    generator: torch.Generator | None
    session: str | None = None  # jobs of one session (a request's fields) reuse each other's prompt keys/values
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # token ids, then None or an exception
    produced: int = 0
    cancelled: bool = False  # set by the consumer when it stops listening; the worker then drops the row
    seen: Tensor | None = None  # [1, V] tokens the repetition penalty applies to (prompt and output)


class Engine:
    """Continuous batching: all running jobs advance together, one forward pass per step, over one shared KV cache.

    Rows are right-aligned in the cache: every row's newest token sits in the same column, with padding on the left
    that the attention mask hides, and each row counts positions from its own first token, so a row's tokens never
    depend on its neighbours. A new job is prefilled on its own and its keys/values copied into a new row; a finished
    job's row is dropped, and columns that have become padding in every row are trimmed away.

    Prefix reuse: the fields of one MOSS turn are generated one after the other, and each field's prompt starts with
    the previous field's prompt (meta instruction, history, the turn so far). Jobs that name a `session` keep their
    prompt's keys/values until `forget(session)`, and a later job of the session prefills only the tokens after the
    longest prefix it shares with them.
    """

    def __init__(self, model: Transformer, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch} must be at least 1")
        self.model, self.max_batch = model.eval(), max_batch
        self.device = next(model.parameters()).device
        self.steps = 0  # decoding passes run, and the rows they carried: their ratio is the mean batch size
        self.row_steps = 0
        self._waiting: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._prefixes: dict[str, tuple[list[int], Tensor, Tensor]] = {}  # session -> prompt, its keys, its values
        self.reused_tokens = 0  # prompt tokens served from a session's prefix instead of prefilled
        self._stopping = False
        self._reset()
        self._thread = threading.Thread(target=self._run, name="mosslite-engine", daemon=True)
        self._thread.start()

    @property
    def running(self) -> int:
        return len(self._rows)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def stream(self, model: Transformer, prompt_ids: Sequence[int], max_new_tokens: int, *, temperature: float = 0.0,
               top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
               stop_tokens: Iterable[int] = (), seed: int | None = None, session: str | None = None) -> Iterator[int]:
        """`generate.stream` through the shared batch: the same arguments and, on the same weights, the same tokens.
        Jobs with the same `session` reuse the keys/values of their common prompt prefix (call `forget` after)."""
        if model is not self.model:
            raise ValueError("this engine serves the model it was built with; pass that model")
        prompt = [int(t) for t in prompt_ids]
        limit = self.model.config.block_size
        if not prompt or max_new_tokens < 1:
            raise ValueError(f"need a non-empty prompt and max_new_tokens >= 1 (got {len(prompt)}, {max_new_tokens})")
        if len(prompt) + max_new_tokens > limit:
            raise ValueError(f"a prompt of {len(prompt)} tokens + max_new_tokens={max_new_tokens} exceeds the model's "
                             f"context of {limit} tokens; shorten the prompt or lower max_new_tokens")
        generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        job = _Job(prompt, max_new_tokens, SamplingConfig(temperature, top_k, top_p, repetition_penalty),
                   frozenset(stop_tokens), generator, session)
        with self._wake:
            if self._stopping:
                raise RuntimeError("the engine has been closed")
            self._waiting.append(job)
            self._wake.notify()
        try:
            while (item := job.out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled = True  # finished, or the consumer stopped early: either way the row can go

    def forget(self, session: str) -> None:
        """Free the prompt keys/values a session kept for its next job."""
        with self._wake:
            self._prefixes.pop(session, None)

    def close(self) -> None:
        """Stop the worker; jobs still running or waiting fail with an error instead of hanging."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    # The rest runs on the worker thread only.
    def _reset(self) -> None:
        """An empty batch: zero rows, and a cache as long as the context so any request fits."""
        c = self.model.config
        self._rows: list[_Job] = []
        self._cache: KVCache = self.model.make_cache(0, c.block_size)
        self._pad = torch.zeros(0, c.block_size, dtype=torch.bool, device=self.device)  # True on real tokens
        self._positions = torch.zeros(0, dtype=torch.long, device=self.device)  # each row's next position
        self._logits = torch.zeros(0, c.vocab_size, device=self.device)  # each row's next-token logits

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not (self._waiting or self._rows or self._stopping):
                        self._wake.wait()
                    if self._stopping:
                        break
                    joining = []
                    while self._waiting and len(self._rows) + len(joining) < self.max_batch:
                        job = self._waiting.popleft()
                        if not job.cancelled:
                            joining.append(job)
                try:
                    for job in joining:
                        self._join(job)
                    self._step()
                except Exception as err:  # a bug or out of memory: fail the requests in flight, keep serving
                    for job in set(self._rows) | set(joining):
                        job.out.put(err)
                    self._reset()
        for job in self._rows + list(self._waiting):
            job.out.put(RuntimeError("the server is shutting down"))

    def _join(self, job: _Job) -> None:
        """Prefill a new job's prompt on its own (after its session's reusable prefix), then copy its keys/values into
        a new right-aligned row."""
        T = len(job.prompt)
        ids = torch.tensor([job.prompt], device=self.device)
        solo = self.model.make_cache(1, T)
        with self._wake:
            kept = self._prefixes.get(job.session) if job.session is not None else None
        if kept is not None:
            tokens, k, v = kept
            limit = min(len(tokens), T - 1)  # at least one token must go through the model, for its logits
            n = next((i for i in range(limit) if tokens[i] != job.prompt[i]), limit)
            solo.k[:, :, :, :n], solo.v[:, :, :, :n], solo.length = k[:, :, :, :n], v[:, :, :, :n], n
            self.reused_tokens += n
        logits = self.model(ids[:, solo.length :], cache=solo)[:, -1]  # positions continue after the reused prefix
        if job.session is not None:
            # A consumer marks its job cancelled before it calls `forget`: checking under the lock never keeps a
            # prefix that nobody will free.
            with self._wake:
                if not job.cancelled:
                    self._prefixes[job.session] = (job.prompt, solo.k, solo.v)
        job.seen = torch.zeros(1, self.model.config.vocab_size, dtype=torch.bool, device=self.device)
        job.seen[0, ids[0]] = True
        if T > self._cache.length:  # the newcomer is longer than every row: make room on the left
            self._shift(T - self._cache.length)
        S, c = self._cache.length, self._cache
        L, _, G, C, D = c.k.shape
        row_k, row_v = c.k.new_zeros(L, 1, G, C, D), c.v.new_zeros(L, 1, G, C, D)
        row_k[:, :, :, S - T : S], row_v[:, :, :, S - T : S] = solo.k, solo.v
        c.k, c.v = torch.cat([c.k, row_k], dim=1), torch.cat([c.v, row_v], dim=1)
        row_pad = torch.zeros(1, c.max_len, dtype=torch.bool, device=self.device)
        row_pad[0, S - T : S] = True
        self._pad = torch.cat([self._pad, row_pad])
        self._positions = torch.cat([self._positions, torch.tensor([T], device=self.device)])
        self._logits = torch.cat([self._logits, logits.to(self._logits.dtype)])
        self._rows.append(job)

    def _step(self) -> None:
        """Choose every row's next token and hand it over, drop finished rows, then one decoding pass for the rest."""
        tokens, keep = [], []
        for i, job in enumerate(self._rows):
            if job.cancelled:
                continue
            token = int(sample_next(self._logits[i : i + 1], job.sampling, job.seen, job.generator))
            job.out.put(token)
            job.produced += 1
            if token in job.stop or job.produced == job.max_new_tokens:
                job.out.put(None)
                continue
            job.seen[0, token] = True
            tokens.append(token)
            keep.append(i)
        self._keep(keep)
        if not self._rows:
            return
        self._pad[:, self._cache.length] = True  # the column the new tokens are about to fill
        x = torch.tensor(tokens, device=self.device)[:, None]
        self._logits = self.model(x, positions=self._positions[:, None], pad_mask=self._pad, cache=self._cache)[:, -1]
        self._positions += 1
        self.steps += 1
        self.row_steps += len(self._rows)

    def _keep(self, keep: list[int]) -> None:
        """Keep only the rows at `keep`, then trim the columns that are padding in every remaining row."""
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, device=self.device)
        c = self._cache
        c.k, c.v = c.k[:, index], c.v[:, index]
        self._pad, self._positions, self._logits = self._pad[index], self._positions[index], self._logits[index]
        self._rows = [self._rows[i] for i in keep]
        first_used = int(self._pad[:, : c.length].any(0).int().argmax())
        if first_used:
            self._shift(-first_used)

    def _shift(self, n: int) -> None:
        """Move the used cache columns n places right (room for a longer newcomer) or left (drop shared padding)."""
        c, S = self._cache, self._cache.length
        src, dst = slice(max(0, -n), S), slice(max(0, n), S + n)
        for t in (c.k, c.v):
            t[:, :, :, dst] = t[:, :, :, src].clone()
        self._pad[:, dst] = self._pad[:, src].clone()
        if n > 0:
            self._pad[:, :n] = False
        else:
            self._pad[:, S + n : S] = False
        c.length = S + n


# ------------------------------------------------------------------------------------------- requests and replies
class APIError(Exception):
    """An error answered in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which its client reads."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param, self.headers = (
            status, message, type_, code, param, headers)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]  # "developer" is OpenAI's newer name for system
    content: str | list[TextPart]

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The OpenAI chat request fields mosslite honours; others (e.g. `user`, `metadata`) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)  # the budget of each field the model writes, the answer included
    max_completion_tokens: int | None = Field(None, ge=1)  # OpenAI's newer name for max_tokens
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)  # not OpenAI's, but vLLM's and MOSS's: pass through `extra_body`
    repetition_penalty: float | None = Field(None, gt=0)
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)
    stop: str | list[str] | None = None
    tools: list | None = None
    store: bool = False  # the user's consent to keep this conversation (the server must allow it too)


class FeedbackRequest(BaseModel):
    completion_id: str
    rating: Literal[-1, 1] | None = None  # thumbs down / up
    better_answer: str | None = Field(None, min_length=1)
    comment: str | None = None


def conversation_from_messages(messages: Sequence[Message], meta: MetaInstruction) -> tuple[Conversation, str]:
    """(history as a Conversation, the new user message) from OpenAI messages: an optional system message first
    (it replaces the meta instruction's text), then user/assistant pairs, ending with the user's new message."""
    messages = list(messages)
    if messages[0].role in ("system", "developer"):
        meta = replace(meta, text=messages.pop(0).text)
    roles = [m.role for m in messages]
    if len(roles) % 2 == 0 or roles != ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]:
        raise APIError(400, f"messages must be an optional system message, then user/assistant turns alternating and "
                            f"ending with a user message; got roles {roles}", param="messages")
    turns = [Turn(human=messages[i].text, moss=messages[i + 1].text) for i in range(0, len(messages) - 1, 2)]
    return Conversation(turns=turns, meta=meta), messages[-1].text


class ChatService:
    """What the routes call: OpenAI messages in, MOSS turns out through the shared engine, with admission control."""

    def __init__(self, model: Transformer, tokenizer, *, model_id: str = "mosslite", toolbox: Toolbox | None = None,
                 meta: MetaInstruction | None = None, sampling: SamplingConfig = MOSS_SAMPLING,
                 max_tokens: int = 128, max_batch: int = 8, max_queue: int = 16,
                 store: FlywheelStore | None = None) -> None:
        toolbox = toolbox or Toolbox(enabled=())
        self.model_id, self.store, self.created = model_id, store, int(time.time())
        self.engine = Engine(model, max_batch)
        self.assistant = Assistant(model, tokenizer, toolbox, meta or MetaInstruction(tools=toolbox.enabled),
                                   sampling, max_tokens, token_stream=self.engine.stream)
        self.capacity = max_batch + max_queue
        self.in_flight = 0  # changed only on the event loop's thread, so it needs no lock
        self.pool = ThreadPoolExecutor(self.capacity, thread_name_prefix="mosslite-request")

    def close(self) -> None:
        self.engine.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            self.store.close()

    def prepare(self, body: ChatRequest) -> tuple[Assistant, Conversation, str]:
        """The per-request assistant, history and message; a prompt that cannot fit the context is a 400."""
        if body.model not in (None, self.model_id):
            raise APIError(404, f"model {body.model!r} not found; this server serves {self.model_id!r}",
                           code="model_not_found", param="model")
        if body.stop:
            raise APIError(400, "stop sequences are not supported: a MOSS answer ends at its <eom> token", param="stop")
        if body.tools:
            raise APIError(400, "OpenAI function calling is not supported; mosslite runs MOSS's own tools, enabled "
                                "with `mosslite serve --tools Search,Calculate,Solve`", param="tools")
        base, s = self.assistant, self.assistant.sampling
        sampling = SamplingConfig(
            temperature=s.temperature if body.temperature is None else body.temperature,
            top_k=s.top_k if body.top_k is None else body.top_k,
            top_p=s.top_p if body.top_p is None else body.top_p,
            repetition_penalty=s.repetition_penalty if body.repetition_penalty is None else body.repetition_penalty)
        max_tokens = body.max_completion_tokens or body.max_tokens or base.max_new_tokens
        context = base.model.config.block_size
        if max_tokens >= context:
            raise APIError(400, f"max_tokens={max_tokens} leaves no room for a prompt in the model's context of "
                                f"{context} tokens", code="context_length_exceeded", param="max_tokens")
        conversation, message = conversation_from_messages(body.messages, base.meta)
        try:  # the shortest prompt this turn can have: its own fields all "None"; older turns may be dropped
            fit_to_context(replace(conversation, turns=[*conversation.turns, Turn(human=message)]), base.tokenizer,
                           context - max_tokens, open_field="moss")
        except ValueError as err:
            raise APIError(400, f"prompt too long for the model's context of {context} tokens (= prompt + max_tokens "
                                f"{max_tokens}): {err}", code="context_length_exceeded", param="messages") from None
        assistant = replace(base, sampling=sampling, max_new_tokens=max_tokens, seed=body.seed)
        return assistant, conversation, message

    def admit(self) -> None:
        """Count one more request in flight, or refuse it with 429 when max_batch + max_queue are taken."""
        if self.in_flight >= self.capacity:
            raise APIError(429, f"server busy: {self.in_flight} requests in flight (max-batch {self.engine.max_batch} "
                                f"+ max-queue {self.capacity - self.engine.max_batch}); retry shortly",
                           type_="rate_limit_error", code="server_busy", headers={"Retry-After": "1"})
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    async def remember(self, completion_id: str, conversation: Conversation, consent: bool) -> bool:
        """Store the conversation when the server allows it and the user opted in; the commit is on disk on return."""
        if self.store is None or not consent:
            return False
        await asyncio.to_thread(self.store.save_conversation, completion_id, conversation, self.model_id)
        return True


class Reply:
    """One request being answered: the Assistant loop on a pool thread, its events handed to the event loop."""

    def __init__(self, service: ChatService, assistant: Assistant, conversation: Conversation, message: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.conversation, self.stop_ids = conversation, assistant.stop_ids
        self.prompt_tokens = self.completion_tokens = self.generated_tokens = 0
        self.last_token: int | None = None
        self._engine = service.engine
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()
        service.pool.submit(self._produce, replace(assistant, token_stream=self._tokens), message)

    @property
    def turn(self) -> Turn:
        return self.conversation.turns[-1]

    @property
    def finish_reason(self) -> str:
        return "stop" if self.last_token in self.stop_ids else "length"

    def usage(self) -> dict[str, int]:
        """Exact counts for the answer field: the prompt it continued and the tokens it generated (<eom> included)."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def extras(self, stored: bool) -> dict:
        """mosslite's additions to OpenAI's response: the turn's other fields, all tokens generated, and storage."""
        turn = self.turn
        return {"inner_thoughts": turn.inner_thoughts, "commands": turn.commands, "results": turn.results,
                "generated_tokens": self.generated_tokens, "stored": stored}

    def cancel(self) -> None:
        self._cancelled.set()

    async def events(self) -> AsyncIterator:
        """The turn's events as the model produces them; re-raises an error from the worker."""
        while (item := await self._events.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _tokens(self, *args, **kwargs) -> Iterator[int]:
        """The engine's tokens for one field, counted; the last field's counts and end token describe the answer."""
        self.prompt_tokens, self.completion_tokens = len(args[1]), 0
        for token in self._engine.stream(*args, session=self.id, **kwargs):
            self.completion_tokens += 1
            self.generated_tokens += 1
            self.last_token = token
            yield token

    def _produce(self, assistant: Assistant, message: str) -> None:
        events = assistant.respond(self.conversation, message)
        try:
            for event in events:
                if self._cancelled.is_set():
                    break
                self._put(event)
        except Exception as err:
            self._put(err)
        finally:
            events.close()  # closes the engine stream too, which frees the row of a cancelled request
            self._engine.forget(self.id)
            self._put(None)

    def _put(self, item) -> None:
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, item)
        except RuntimeError:  # the event loop has closed: the server is shutting down and nobody is listening
            pass


# ------------------------------------------------------------------------------------------------------- the app
def create_app(service: ChatService) -> FastAPI:
    """The HTTP routes over a ChatService; the service is closed when the app shuts down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    app = FastAPI(title="mosslite", description=__doc__.splitlines()[0], lifespan=lifespan)
    app.state.service = service

    @app.exception_handler(APIError)
    async def api_error(request: Request, err: APIError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = err.errors()
        if any(p["type"] == "json_invalid" for p in problems):
            return JSONResponse(APIError(400, f"request body is not valid JSON: {problems[0]['msg']}").body(), 400)
        lines = [f"{'.'.join(str(x) for x in p['loc'][1:]) or 'body'}: {p['msg']}" for p in problems]
        first = ".".join(str(x) for x in problems[0]["loc"][1:]) or None
        return JSONResponse(APIError(422, "invalid request: " + "; ".join(lines), param=first).body(), 422)

    @app.get("/health")
    async def health() -> dict:
        e = service.engine
        return {"status": "ok", "model": service.model_id, "in_flight": service.in_flight,
                "capacity": service.capacity, "running": e.running, "waiting": e.waiting, "steps": e.steps,
                "mean_batch": round(e.row_steps / e.steps, 2) if e.steps else 0.0,
                "reused_prompt_tokens": e.reused_tokens}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": service.model_id, "object": "model", "created": service.created,
                                            "owned_by": "mosslite"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest):
        assistant, conversation, message = service.prepare(body)
        service.admit()
        try:
            reply = Reply(service, assistant, conversation, message)
        except BaseException:
            service.release()
            raise
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_sse(service, reply, body.store, include_usage), media_type="text/event-stream")
        try:
            async for _ in reply.events():
                pass
            stored = await service.remember(reply.id, reply.conversation, body.store)
        except Exception as err:  # e.g. the turn outgrew the context mid-answer (long thoughts or tool results)
            raise APIError(500, f"generation failed: {err}", "server_error") from err
        finally:
            reply.cancel()
            service.release()
        return {"id": reply.id, "object": "chat.completion", "created": reply.created, "model": service.model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.turn.moss},
                             "finish_reason": reply.finish_reason, "logprobs": None}],
                "usage": reply.usage(), "mosslite": reply.extras(stored)}

    @app.post("/v1/feedback")
    async def feedback(body: FeedbackRequest) -> dict:
        if service.store is None:
            raise APIError(403, "this server keeps no conversations; start it with `mosslite serve --consent`",
                           code="consent_disabled")
        if body.rating is None and body.better_answer is None:
            raise APIError(422, "feedback needs a rating (1 or -1) or a better_answer", param="rating")
        try:
            feedback_id = await asyncio.to_thread(service.store.save_feedback, body.completion_id, body.rating,
                                                  body.better_answer, body.comment)
        except KeyError:
            raise APIError(404, f"no stored conversation {body.completion_id!r}: only requests sent with "
                                "store=true to a server started with --consent are kept",
                           param="completion_id") from None
        return {"id": feedback_id, "completion_id": body.completion_id, "stored": True}

    return app


def _chunk(reply: Reply, model_id: str, delta: dict, finish_reason: str | None = None, **extra) -> str:
    """One server-sent event in OpenAI's `chat.completion.chunk` shape."""
    body = {"id": reply.id, "object": "chat.completion.chunk", "created": reply.created, "model": model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _sse(service: ChatService, reply: Reply, consent: bool, include_usage: bool) -> AsyncIterator[str]:
    """The answer as server-sent events: a role chunk, one chunk per piece of the answer, a final chunk, [DONE]."""
    try:
        yield _chunk(reply, service.model_id, {"role": "assistant", "content": ""})
        try:
            sent = False
            async for event in reply.events():
                # The answer's first piece starts with the space after `<|MOSS|>:`; the JSON reply strips it too.
                if event.field == "moss" and (text := event.text if sent else event.text.lstrip()):
                    sent = True
                    yield _chunk(reply, service.model_id, {"content": text})
            stored = await service.remember(reply.id, reply.conversation, consent)
        except Exception as err:  # the status line has been sent: report the failure the way OpenAI's stream does
            yield f"data: {json.dumps(APIError(500, f'generation failed: {err}', 'server_error').body())}\n\n"
            return
        yield _chunk(reply, service.model_id, {}, reply.finish_reason, mosslite=reply.extras(stored))
        if include_usage:
            body = {"id": reply.id, "object": "chat.completion.chunk", "created": reply.created,
                    "model": service.model_id, "choices": [], "usage": reply.usage()}
            yield f"data: {json.dumps(body)}\n\n"
        yield "data: [DONE]\n\n"
    finally:  # also runs when the client disconnects mid-answer: stop generating for it
        reply.cancel()
        service.release()


# ------------------------------------------------------------------------------------- running it in the background
class BackgroundServer:
    """uvicorn serving an app on a daemon thread (for notebooks, tests and benchmarks); `stop()` shuts it down.

    The socket is bound here, before the thread starts, so `port=0` picks a free port with no race.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {host}:{self.port} within {timeout} s")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        """The OpenAI base URL, e.g. for `openai.OpenAI(base_url=server.url, api_key="none")`."""
        return f"http://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------------------- CLI
def build_service(args: argparse.Namespace) -> ChatService:
    """A ChatService from `mosslite serve`'s arguments: checkpoint, tokenizer, quantization, tools, consent."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.prepack import prepack_linears
    from mosslite.quantize import quantize_model
    from mosslite.tokenizer import load_tokenizer

    if args.quantize and args.prepack:
        raise ValueError("--quantize and --prepack are two different CPU kernels for the linear layers; choose one")
    model = load_checkpoint(args.checkpoint).eval()
    if args.quantize:
        quantize_model(model, bits={"int8": 8, "int4": 4}[args.quantize])
    if args.prepack:
        prepack_linears(model)
    tools = tuple(t for t in args.tools.split(",") if t) if args.tools else ()
    unknown = sorted(set(tools) - set(TOOL_LINES))
    if unknown:
        raise ValueError(f"--tools: unknown tool(s) {unknown}; choose from {', '.join(TOOL_LINES)}")
    index = None
    if "Search" in tools:
        if args.search_docs:
            index = BM25Index(Path(args.search_docs).read_text(encoding="utf-8").split("\n\n"))
        else:  # the built-in world's snippets: the same world the default corpus and SFT data describe
            from mosslite.data.world import World

            index = BM25Index(World().search_documents())
    store = FlywheelStore(args.flywheel_db) if args.consent else None
    return ChatService(model, load_tokenizer(args.tokenizer), model_id=args.model_id or Path(args.checkpoint).name,
                       toolbox=Toolbox(index=index, enabled=tools), max_tokens=args.max_tokens,
                       max_batch=args.max_batch, max_queue=args.max_queue, store=store)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.threads:
        torch.set_num_threads(args.threads)
    service = build_service(args)
    print(f"serving {service.model_id} on http://{args.host}:{args.port}/v1 (OpenAI-compatible; "
          f"max batch {args.max_batch}, queue {args.max_queue}, tools {args.tools or 'none'}, "
          f"flywheel {'on: ' + str(args.flywheel_db) if args.consent else 'off'})", flush=True)
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="OpenAI-compatible chat server (streaming, batching, tools, flywheel)")
    p.add_argument("--checkpoint", type=Path, required=True, help="mosslite checkpoint folder")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder (tokenizer.json)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes the server to your network")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model-id", help="the name clients use in `model` (default: the checkpoint folder's name)")
    p.add_argument("--quantize", choices=["int8", "int4"], help="weight-only quantization of the linear layers")
    p.add_argument("--prepack", action="store_true", help="fp32 weights stored once in oneDNN's layout: faster "
                   "CPU decoding, same numbers (mosslite/prepack.py)")
    p.add_argument("--max-batch", type=int, default=8, help="requests decoded together")
    p.add_argument("--max-queue", type=int, default=16, help="requests waiting beyond the batch; more get HTTP 429")
    p.add_argument("--max-tokens", type=int, default=128, help="default per-field generation budget")
    p.add_argument("--tools", default="", help="comma-separated tools to enable: Search,Calculate,Solve")
    p.add_argument("--search-docs", type=Path, help="text file of search snippets, blank-line separated "
                                                    "(default: the built-in world's)")
    p.add_argument("--consent", action="store_true", help="keep conversations whose request says store=true, "
                                                          "and accept feedback (the dialogue flywheel)")
    p.add_argument("--flywheel-db", type=Path, default=Path("flywheel.sqlite"), help="SQLite file for --consent")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=serve)
