"""The chat server through the real `openai` client on loopback: answers, streaming, limits, load shedding, batching."""

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import torch
from test_assistant import META, taught_model  # noqa: F401  (a pytest fixture: the toy model that knows LESSON)

from mosslite.config import get_config
from mosslite.flywheel import FlywheelStore
from mosslite.generate import stream
from mosslite.model import Transformer, build_model
from mosslite.serve import BackgroundServer, ChatService, Engine, conversation_from_messages, create_app
from mosslite.tools import Toolbox

QUESTION = [{"role": "user", "content": "What is 1234*5678?"}]
ANSWER = "It is 7006652."


def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def server(taught_model):  # noqa: F811
    model, tok = taught_model
    service = ChatService(model, tok, model_id="toy-calc", toolbox=Toolbox(enabled=("Calculate",)), meta=META,
                          max_tokens=40, max_batch=4, max_queue=4)
    with BackgroundServer(create_app(service)) as running:
        yield running


def test_non_streaming_completion_runs_the_tool_and_answers(server):
    reply = client(server).chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0)
    assert reply.choices[0].message.content == ANSWER
    assert reply.choices[0].finish_reason == "stop"
    extras = reply.model_extra["mosslite"]
    assert extras["commands"] == 'Calculate("1234*5678")'
    assert extras["results"] == 'Calculate("1234*5678") => 7006652'  # computed by the server's tool, not recalled
    assert extras["stored"] is False  # no --consent on this server
    assert reply.usage.completion_tokens == len(ANSWER) + 2  # a byte per character, the leading space, <eom>
    health = httpx.get(f"http://{server.host}:{server.port}/health").json()
    # The commands' prompt extends the inner thoughts' prompt, the answer's extends the commands': each later field
    # prefilled only its new tokens, so more than a whole prompt's worth was reused.
    assert health["reused_prompt_tokens"] > reply.usage.prompt_tokens


def test_streaming_completion_arrives_in_pieces_and_ends_with_done(server):
    chunks = list(client(server).chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0,
                                                         stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == ANSWER and len(pieces) > 3  # streamed as it was generated, not in one piece
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["stop"]
    assert chunks[-1].usage.completion_tokens == len(ANSWER) + 2


def test_models_list_and_health(server):
    assert [m.id for m in client(server).models.list()] == ["toy-calc"]
    health = httpx.get(f"http://{server.host}:{server.port}/health").json()
    assert health["status"] == "ok" and health["capacity"] == 8 and health["in_flight"] == 0


def test_prompt_beyond_the_context_is_400_stating_the_limit(server):
    with pytest.raises(openai.BadRequestError, match="context of 512 tokens") as err:
        client(server).chat.completions.create(model="toy-calc", messages=[{"role": "user", "content": "x" * 600}])
    assert err.value.code == "context_length_exceeded"


def test_bad_requests_get_clear_400_and_422_errors(server):
    c = client(server)
    with pytest.raises(openai.UnprocessableEntityError, match="temperature: Input should be greater than or equal"):
        c.chat.completions.create(model="toy-calc", messages=QUESTION, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="ending with a user message"):
        c.chat.completions.create(model="toy-calc", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.NotFoundError, match="serves 'toy-calc'"):
        c.chat.completions.create(model="gpt-4o", messages=QUESTION)
    raw = httpx.post(f"{server.url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]["message"]


def test_concurrent_requests_are_batched_and_all_answered(server):
    c = client(server)
    steps_before = httpx.get(f"http://{server.host}:{server.port}/health").json()
    with ThreadPoolExecutor(6) as pool:  # more than max_batch=4: two wait their turn in the queue
        replies = list(pool.map(lambda _: c.chat.completions.create(model="toy-calc", messages=QUESTION,
                                                                    temperature=0), range(6)))
    assert [r.choices[0].message.content for r in replies] == [ANSWER] * 6
    assert len({r.id for r in replies}) == 6
    health = httpx.get(f"http://{server.host}:{server.port}/health").json()
    rows = health["mean_batch"] * health["steps"] - steps_before["mean_batch"] * steps_before["steps"]
    assert rows / (health["steps"] - steps_before["steps"]) > 1.5  # steps carried several requests at once


class GatedTransformer(Transformer):
    """A model whose every forward pass waits for `gate`: the test decides when generation may proceed."""

    gate = threading.Event()

    def forward(self, *args, **kwargs):
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        return super().forward(*args, **kwargs)


def test_a_full_queue_sheds_load_with_429(taught_model):  # noqa: F811
    model, tok = taught_model
    gated = GatedTransformer(model.config)
    gated.load_state_dict(model.state_dict())
    GatedTransformer.gate.clear()
    service = ChatService(gated, tok, model_id="toy-calc", toolbox=Toolbox(enabled=("Calculate",)), meta=META,
                          max_tokens=40, max_batch=1, max_queue=1)
    with BackgroundServer(create_app(service)) as running, ThreadPoolExecutor(2) as pool:
        c = client(running)
        held = [pool.submit(c.chat.completions.create, model="toy-calc", messages=QUESTION, temperature=0)
                for _ in range(2)]  # one decoding (blocked at the gate), one waiting in the queue
        for _ in range(500):  # bounded wait until the server has admitted both
            if httpx.get(f"http://{running.host}:{running.port}/health").json()["in_flight"] == 2:
                break
            time.sleep(0.01)
        with pytest.raises(openai.RateLimitError, match="server busy") as err:
            c.chat.completions.create(model="toy-calc", messages=QUESTION)
        assert err.value.response.headers["retry-after"] == "1"
        GatedTransformer.gate.set()
        assert [f.result(timeout=60).choices[0].message.content for f in held] == [ANSWER] * 2


def test_a_client_that_disconnects_mid_stream_frees_its_place(taught_model):  # noqa: F811
    model, tok = taught_model
    gated = GatedTransformer(model.config)
    gated.load_state_dict(model.state_dict())
    GatedTransformer.gate.clear()
    service = ChatService(gated, tok, model_id="toy-calc", toolbox=Toolbox(enabled=("Calculate",)), meta=META,
                          max_tokens=40, max_batch=1, max_queue=0)
    with BackgroundServer(create_app(service)) as running:
        health = f"http://{running.host}:{running.port}/health"
        with httpx.stream("POST", f"{running.url}/chat/completions", timeout=30,
                          json={"model": "toy-calc", "messages": QUESTION, "stream": True}) as r:
            lines = r.iter_lines()  # kept alive: a discarded iterator would close the connection
            assert next(lines).startswith("data: ")  # the role chunk: the answer has begun
            assert httpx.get(health).json()["in_flight"] == 1
        GatedTransformer.gate.set()  # the client is gone; let the model run again
        for _ in range(500):  # bounded wait for the server to notice and clean up
            state = httpx.get(health).json()
            if state["in_flight"] == 0 and state["running"] == 0 and state["waiting"] == 0:
                break
            time.sleep(0.01)
        assert (state["in_flight"], state["running"], state["waiting"]) == (0, 0, 0)
        reply = client(running).chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0)
        assert reply.choices[0].message.content == ANSWER  # the single place is free again


def test_engine_gives_each_request_the_tokens_stream_gives_while_others_join_and_leave():
    """Continuous batching must not change any answer: rows of different lengths join (the longer one shifts the
    cache right) and leave (shared padding is trimmed) mid-flight, and each still equals `generate.stream` alone."""
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    prompts = [[5, 17, 33, 2], list(range(40, 70)), [9, 8, 7, 6, 5, 4, 3, 2], [100, 101]]
    budgets = [48, 12, 30, 20]
    expected = [list(stream(model, p, n)) for p, n in zip(prompts, budgets)]
    engine = Engine(model, max_batch=3)  # four requests, three rows: the last waits until a row frees up
    try:
        first = engine.stream(model, prompts[0], budgets[0])
        head = [next(first) for _ in range(5)]  # the first request is decoding before the others arrive
        with ThreadPoolExecutor(3) as pool:
            rest = list(pool.map(lambda i: list(engine.stream(model, prompts[i], budgets[i])), [1, 2, 3]))
        assert [head + list(first), *rest] == expected
        assert engine.row_steps > engine.steps  # some steps decoded several rows together
        assert engine.running == 0 and engine.waiting == 0
    finally:
        engine.close()


def test_a_session_reuses_its_prompt_prefix_and_gets_the_same_tokens():
    """The fields of one turn share their prompt's beginning: the second job prefills only what is new."""
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    first, second, other = list(range(10, 50)), list(range(10, 50)) + [7, 8, 9], list(range(10, 30)) + [1, 2]
    engine = Engine(model, max_batch=2)
    try:
        assert list(engine.stream(model, first, 8, session="a")) == list(stream(model, first, 8))
        assert list(engine.stream(model, second, 8, session="a")) == list(stream(model, second, 8))
        assert engine.reused_tokens == 40  # all of `first`
        assert list(engine.stream(model, other, 8, session="a")) == list(stream(model, other, 8))
        assert engine.reused_tokens == 40 + 20  # the common part only
        engine.forget("a")
        assert list(engine.stream(model, second, 8, session="a")) == list(stream(model, second, 8))
        assert engine.reused_tokens == 60  # forgotten: prefilled from scratch
    finally:
        engine.close()


def test_messages_become_a_moss_conversation():
    from mosslite.serve import Message

    messages = [Message(role="system", content="You are MOSS."), Message(role="user", content="hi"),
                Message(role="assistant", content="hello"), Message(role="user", content=[{"type": "text", "text": "?"}])]
    conversation, message = conversation_from_messages(messages, META)
    assert conversation.meta.render() == "You are MOSS.\n" and message == "?"
    assert [(t.human, t.moss) for t in conversation.turns] == [("hi", "hello")]


def test_sse_stream_is_openai_shaped_on_the_wire(server):
    with httpx.stream("POST", f"{server.url}/chat/completions", timeout=60,
                      json={"model": "toy-calc", "messages": QUESTION, "temperature": 0, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert all(json.loads(e)["object"] == "chat.completion.chunk" for e in events[:-1])


def test_consented_conversations_and_feedback_are_committed_before_the_reply(taught_model, tmp_path):  # noqa: F811
    model, tok = taught_model
    service = ChatService(model, tok, model_id="toy-calc", toolbox=Toolbox(enabled=("Calculate",)), meta=META,
                          max_tokens=40, store=FlywheelStore(tmp_path / "flywheel.sqlite"))
    with BackgroundServer(create_app(service)) as running:
        c = client(running)
        kept = c.chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0, store=True)
        streamed = list(c.chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0, store=True,
                                                  stream=True))
        private = c.chat.completions.create(model="toy-calc", messages=QUESTION, temperature=0)  # no opt-in
        assert kept.model_extra["mosslite"]["stored"] and not private.model_extra["mosslite"]["stored"]
        final = next(ch for ch in streamed if ch.choices and ch.choices[0].finish_reason)
        assert final.model_extra["mosslite"]["stored"]
        # A second connection sees the rows the moment each reply has arrived: committed before the response.
        db = sqlite3.connect(tmp_path / "flywheel.sqlite")
        assert {row[0] for row in db.execute("SELECT id FROM conversations")} == {kept.id, streamed[0].id}
        feedback = f"{running.url}/feedback"
        r = httpx.post(feedback, json={"completion_id": kept.id, "rating": -1, "better_answer": "7,006,652."})
        assert r.status_code == 200 and r.json()["stored"] is True
        assert db.execute("SELECT rating, better_answer FROM feedback").fetchall() == [(-1, "7,006,652.")]
        db.close()
        assert httpx.post(feedback, json={"completion_id": private.id, "rating": 1}).status_code == 404
        assert httpx.post(feedback, json={"completion_id": kept.id}).status_code == 422
        assert httpx.post(feedback, json={"completion_id": kept.id, "rating": 5}).status_code == 422


def test_feedback_without_consent_is_refused(server):
    r = httpx.post(f"{server.url}/feedback", json={"completion_id": "chatcmpl-x", "rating": 1})
    assert r.status_code == 403 and "--consent" in r.json()["error"]["message"]



def test_serve_command_builds_the_service_from_its_flags(tmp_path):
    from mosslite.checkpoint import save_checkpoint
    from mosslite.cli import build_parser
    from mosslite.prepack import PrepackedLinear, prepack_available
    from mosslite.quantize import QuantizedLinear
    from mosslite.serve import build_service
    from mosslite.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["What is 2+2? It is 4. 你好, MOSS."] * 20, vocab_size=300)
    tokenizer.save(tmp_path / "tok")
    save_checkpoint(build_model(get_config("toy", vocab_size=tokenizer.vocab_size)), tmp_path / "ckpt")
    argv = ["serve", "--checkpoint", str(tmp_path / "ckpt"), "--tokenizer", str(tmp_path / "tok"), "--quantize", "int8",
            "--tools", "Calculate,Solve", "--consent", "--flywheel-db", str(tmp_path / "fw.sqlite"), "--max-batch", "2"]
    service = build_service(build_parser().parse_args(argv))
    try:
        assert service.model_id == "ckpt" and service.engine.max_batch == 2 and service.capacity == 2 + 16
        assert service.assistant.toolbox.enabled == ("Calculate", "Solve")
        assert service.assistant.meta.tools == ("Calculate", "Solve")  # the meta instruction announces them
        assert any(isinstance(m, QuantizedLinear) for m in service.engine.model.modules())
        assert service.store is not None and (tmp_path / "fw.sqlite").is_file()
    finally:
        service.close()
    with pytest.raises(ValueError, match="unknown tool"):
        build_service(build_parser().parse_args(argv[:5] + ["--tools", "Browse"]))
    with pytest.raises(ValueError, match="--quantize and --prepack"):
        build_service(build_parser().parse_args(argv + ["--prepack"]))
    if prepack_available():
        service = build_service(build_parser().parse_args(argv[:5] + ["--prepack"]))
        try:
            assert any(isinstance(m, PrepackedLinear) for m in service.engine.model.modules())
        finally:
            service.close()
