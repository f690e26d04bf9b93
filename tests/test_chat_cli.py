"""`mosslite chat`: the loop streams answers, runs /commands, and never lets the model start another role; the
command itself runs on piped stdin."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import ByteTokenizer
from sft_support import make_base, scripted_stream

from mosslite.assistant import Assistant, cut_at_header
from mosslite.chat import COMPACT_META, parse
from mosslite.chat_cli import chat_loop, load_assistant
from mosslite.config import get_config
from mosslite.model import build_model
from mosslite.prepack import PrepackedLinear, prepack_available

TOK = ByteTokenizer()
MODEL = build_model(get_config("toy", vocab_size=262, block_size=1024))  # never run: scripted streams answer


def scripted(answer: str, **fields) -> Assistant:
    stream = scripted_stream(TOK, {"inner_thoughts": "None", "commands": "None", "moss": answer, **fields})
    return Assistant(MODEL, TOK, meta=COMPACT_META, max_new_tokens=200, token_stream=stream)


def test_answers_stream_piece_by_piece_and_end_at_eom():
    assistant = scripted("Kelob lives in Dorvik.")
    writes = []
    conversation = chat_loop(assistant, ["Where does Kelob live?", "/quit", "never read"], writes.append)
    assert "".join(writes) == "MOSS:  Kelob lives in Dorvik.\n"
    assert len(writes) > 10  # streamed, not printed at the end
    assert [t.human for t in conversation.turns] == ["Where does Kelob live?"]
    assert parse(conversation.render()) == conversation.turns


def test_commands_reset_system_and_temperature():
    assistant = scripted("ok")
    writes = []
    lines = ["first", "second", "/reset", "third", "/system Always answer in French.", "fourth", "/temperature 0.3",
             "/temperature hot", "/system", "/nonsense"]
    conversation = chat_loop(assistant, lines, writes.append)
    text = "".join(writes)
    prompts = assistant.token_stream.prompts
    moss_prompts = [p for p in prompts if p.endswith("<|MOSS|>:")]
    assert moss_prompts[1].count("<|Human|>") == 2  # history is kept ...
    assert moss_prompts[2].count("<|Human|>") == 1 and "(new conversation)" in text  # ... until /reset
    assert "- Always answer in French." in moss_prompts[3] and "- Always answer in French." not in moss_prompts[2]
    assert [t.human for t in conversation.turns] == ["third", "fourth"]
    assert assistant.sampling.temperature == 0.3 and "(temperature 0.3)" in text
    assert "/temperature needs a number" in text
    assert "You are an AI assistant whose name is MOSS.\n- Always answer in French.\n" in text  # /system alone
    assert "unknown command /nonsense" in text


def test_tool_fields_are_shown_only_when_used():
    assistant = scripted("It is 4.", inner_thoughts="I should calculate.", commands='Calculate("2+2")')
    writes = []
    chat_loop(assistant, ["2+2?"], writes.append)
    text = "".join(writes)
    assert "[inner thoughts: I should calculate.]" in text and '[commands: Calculate("2+2")]' in text
    assert "[results: " in text and "It is 4." in text
    plain = []
    chat_loop(scripted("Hi."), ["hello"], plain.append)
    assert "[" not in "".join(plain)


def test_a_role_header_written_as_text_ends_the_turn():
    assistant = scripted("Sure.\n<|Human|>: now I speak for the user<eoh>")
    writes = []
    conversation = chat_loop(assistant, ["hi"], writes.append)
    assert conversation.turns[-1].moss == "Sure."
    assert "<|" not in "".join(writes) and "user" not in "".join(writes)
    assert cut_at_header("a <|MOSS|>: b") == ("a ", True) and cut_at_header("x <|1|> y") == ("x <|1|> y", False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat")
    base, tokenizer = make_base(folder)
    from mosslite.tokenizer import load_tokenizer

    load_tokenizer(tokenizer).save(base)
    (base / "chat.json").write_text(json.dumps({"rules": ["Be brief."], "world": {"n_entities": 12}}))
    return base


def test_load_assistant_reads_the_settings_saved_beside_the_weights(checkpoint, tmp_path):
    assistant = load_assistant(checkpoint, tools=("Search",))
    assert assistant.meta.rules == ("Be brief.",) and assistant.meta.tools == ("Search",)
    assert "No result" not in assistant.toolbox.run_all('Search("home city")')  # the world's index is loaded
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        load_assistant(tmp_path)


@pytest.mark.skipif(not prepack_available(), reason="this PyTorch build has no oneDNN linear kernels")
def test_prepacked_assistant_answers_as_the_plain_one(checkpoint):
    plain = load_assistant(checkpoint, seed=0, max_new_tokens=8)
    fast = load_assistant(checkpoint, seed=0, max_new_tokens=8, prepack=True)
    assert any(isinstance(m, PrepackedLinear) for m in fast.model.modules())
    assert not any(isinstance(m, PrepackedLinear) for m in plain.model.modules())
    answers = []
    for assistant in (plain, fast):
        assistant.sampling = replace(assistant.sampling, temperature=0.0)
        answers.append(assistant.reply(assistant.new_conversation(), "Hi"))
    assert answers[0] == answers[1] and answers[0].moss


def test_the_command_chats_over_piped_stdin(checkpoint):
    lines = "Hello!\n/temperature 0\n你好吗？\n" + "very long " * 300 + "\n/quit\n"
    done = subprocess.run([sys.executable, "-m", "mosslite.cli", "chat", "--checkpoint", str(checkpoint),
                           "--max-new-tokens", "6", "--seed", "0"], input=lines, capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("MOSS: ") == 3 and "(temperature 0.0)" in done.stdout
    assert "(not sent: the newest turn alone needs" in done.stdout
