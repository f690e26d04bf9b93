"""The dialogue flywheel: consented conversations and feedback in SQLite, durable once acknowledged, exported back
into moss-003-sft-data JSONL and preference pairs."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mosslite.chat import Conversation, MetaInstruction, Turn
from mosslite.cli import main as cli_main
from mosslite.data.sft import read_sft_jsonl
from mosslite.flywheel import FlywheelStore, export_pairs, export_sft, preference_pairs, sft_conversations

META = MetaInstruction(rules=("MOSS is helpful.",))


def chat(question: str, answer: str, history: tuple[tuple[str, str], ...] = ()) -> Conversation:
    return Conversation(turns=[Turn(human=h, moss=m) for h, m in history] + [Turn(human=question, moss=answer)],
                        meta=META)


@pytest.fixture
def store(tmp_path):
    s = FlywheelStore(tmp_path / "flywheel.sqlite")
    yield s
    s.close()


def test_store_uses_wal_with_full_sync(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_ratings_and_edits_decide_what_is_exported(store, tmp_path):
    store.save_conversation("good", chat("Capital of Kelob?", "Mirav.", history=(("Hi", "Hello!"),)), "toy")
    store.save_conversation("bad", chat("2+2?", "5."), "toy")
    store.save_conversation("edited", chat("Who made you?", "OpenAI."), "toy")
    store.save_conversation("unrated", chat("Hello?", "Hi there."), "toy")
    store.save_feedback("good", rating=1)
    store.save_feedback("bad", rating=1)
    store.save_feedback("bad", rating=-1, comment="wrong sum")  # the latest rating counts
    store.save_feedback("edited", rating=-1)
    store.save_feedback("edited", better_answer="The mosslite project rebuilt me.")
    with pytest.raises(KeyError):
        store.save_feedback("nobody", rating=1)
    with pytest.raises(ValueError, match="needs a rating"):
        store.save_feedback("good")

    answers = [c.turns[-1].moss for c in sft_conversations(store, min_rating=0)]
    assert answers == ["Mirav.", "The mosslite project rebuilt me.", "Hi there."]
    assert [c.turns[-1].moss for c in sft_conversations(store, min_rating=1)] == [
        "Mirav.", "The mosslite project rebuilt me."]

    out = tmp_path / "sft.jsonl"
    assert export_sft(store.path, out, min_rating=0) == 3
    back, bad = read_sft_jsonl(out)
    assert not bad and back == sft_conversations(store, 0)  # the SFT loader reads exactly what was exported
    assert back[0].turns[0] == Turn(human="Hi", moss="Hello!")  # history turns travel with the conversation


def test_preference_pairs_from_edits_and_from_opposite_thumbs(store, tmp_path):
    store.save_conversation("a", chat("2+2?", "4."), "toy")
    store.save_conversation("b", chat("2+2?", "5."), "toy")
    store.save_conversation("c", chat("Who made you?", "OpenAI."), "toy")
    store.save_feedback("a", rating=1)
    store.save_feedback("b", rating=-1)
    store.save_feedback("c", better_answer="The mosslite project.")
    pairs = preference_pairs(store)
    prompt = chat("2+2?", "").render(open_field="moss")
    assert {"prompt": prompt, "chosen": " 4.<eom>", "rejected": " 5.<eom>"} in pairs
    assert {"prompt": chat("Who made you?", "").render(open_field="moss"), "chosen": " The mosslite project.<eom>",
            "rejected": " OpenAI.<eom>"} in pairs
    assert len(pairs) == 2
    assert pairs[0]["prompt"].endswith("<|MOSS|>:")  # prompt + chosen is a whole training text
    out = tmp_path / "pairs.jsonl"
    assert export_pairs(store.path, out) == 2
    assert [json.loads(line) for line in out.read_text().splitlines()] == pairs


def test_data_export_sft_command(store, tmp_path, capsys):
    store.save_conversation("a", chat("2+2?", "4."), "toy")
    store.save_conversation("b", chat("3+3?", "7."), "toy")
    store.save_feedback("a", rating=1)
    store.save_feedback("b", better_answer="6.")
    out, pairs = tmp_path / "out.jsonl", tmp_path / "pairs.jsonl"
    argv = ["data", "export-sft", "--db", str(store.path), "--out", str(out), "--min-rating", "1", "--pairs", str(pairs)]
    assert cli_main(argv) == 0
    assert "wrote 2 conversation(s)" in capsys.readouterr().out
    assert [c.turns[-1].moss for c in read_sft_jsonl(out)[0]] == ["4.", "6."]
    assert len(pairs.read_text().splitlines()) == 1
    assert cli_main(["data", "export-sft", "--db", str(tmp_path / "none.sqlite"), "--out", str(out)]) == 2


# A server in a child process with the flywheel on; the parent kills it with SIGKILL while requests are in flight.
CHILD = r"""
import sys, time, torch
from mosslite.config import get_config
from mosslite.flywheel import FlywheelStore
from mosslite.model import build_model
from mosslite.serve import BackgroundServer, ChatService, create_app
from mosslite.chat import COMPACT_META

class Bytes:  # bytes as ids 0-255, the chat end tokens after them; decoding never fails
    special_tokens = {t: 256 + i for i, t in enumerate(["<|endoftext|>", "<eoh>", "<eom>", "<eot>", "<eoc>", "<eor>"])}
    def encode(self, text, allowed_special="none"):
        return list(text.encode())
    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode(errors="replace")

torch.set_num_threads(1)
torch.manual_seed(0)
model = build_model(get_config("toy", vocab_size=262, block_size=512))
service = ChatService(model, Bytes(), meta=COMPACT_META, max_tokens=4, max_batch=4, max_queue=8,
                      store=FlywheelStore(sys.argv[1]))
server = BackgroundServer(create_app(service))
print(server.port, flush=True)
time.sleep(120)
"""


def test_acknowledged_conversations_survive_a_killed_server(tmp_path):
    db = tmp_path / "flywheel.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        port = int(child.stdout.readline())
        acked: list[str] = []
        stop = threading.Event()

        def send(i: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as http:
                while not stop.is_set():
                    try:
                        r = http.post("/chat/completions", json={"messages": [{"role": "user", "content": f"hi {i}"}],
                                                                 "store": True, "max_tokens": 4})
                    except httpx.TransportError:  # the server has been killed
                        return
                    assert r.status_code == 200 and r.json()["mosslite"]["stored"] is True
                    acked.append(r.json()["id"])

        clients = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)  # no shutdown, no flush: requests are still being written
        child.wait(timeout=30)
        stop.set()
        for t in clients:
            t.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    assert len(acked) >= 12
    db_check = sqlite3.connect(db)
    assert db_check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = {row[0] for row in db_check.execute("SELECT id FROM conversations")}
    db_check.close()
    assert set(acked) <= kept  # every acknowledged conversation is on disk
