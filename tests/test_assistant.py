"""The assistant loop end to end: a toy model taught one tool-using conversation runs the tool for real."""

import pytest
import torch
from conftest import ByteTokenizer

from mosslite.assistant import Assistant
from mosslite.chat import Conversation, MetaInstruction, Turn, encode_for_training, parse
from mosslite.config import get_config
from mosslite.model import build_model, lm_loss
from mosslite.tools import Toolbox

META = MetaInstruction(rules=(), tools=("Calculate",), inner_thoughts=True)
LESSON = Turn(human="What is 1234*5678?", inner_thoughts="I should calculate.", commands='Calculate("1234*5678")',
              results='Calculate("1234*5678") => 7006652', moss="It is 7006652.")


@pytest.fixture(scope="module")
def taught_model():
    """A toy model that has memorised LESSON (under the assistant loss mask), so its behaviour is predictable."""
    torch.manual_seed(0)
    tok = ByteTokenizer()
    model = build_model(get_config("toy", vocab_size=262, block_size=512, n_embd=128))
    ids, labels = encode_for_training(Conversation(turns=[LESSON], meta=META), tok, policy="assistant")
    x, y = torch.tensor([ids[:-1]]), torch.tensor([labels[1:]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):  # about 50 steps are enough
        loss = lm_loss(model(x), y)
        if loss.item() < 0.02:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
    return model.eval(), tok


def test_two_pass_loop_runs_the_tool_and_answers(taught_model):
    model, tok = taught_model
    assistant = Assistant(model, tok, toolbox=Toolbox(), meta=META, max_new_tokens=40)
    conversation = assistant.new_conversation()
    events = list(assistant.respond(conversation, "What is 1234*5678?"))
    turn = conversation.turns[-1]
    assert turn.commands == 'Calculate("1234*5678")'
    assert turn.results == 'Calculate("1234*5678") => 7006652'  # computed by the runtime, not recalled
    assert turn.moss == "It is 7006652."
    order = [e.field for e in events if e.done]
    assert order == ["inner_thoughts", "commands", "results", "moss"]
    assert "".join(e.text for e in events if e.field == "moss") == " It is 7006652."
    assert parse(conversation.render()) == conversation.turns  # nothing but the five fields was written


def test_disabled_tool_gives_an_error_result_not_a_crash(taught_model):
    model, tok = taught_model
    # The meta instruction announces Calculate (so the model calls it), but this runtime's toolbox has none enabled.
    assistant = Assistant(model, tok, toolbox=Toolbox(enabled=()), meta=META, max_new_tokens=40)
    turn = assistant.reply(assistant.new_conversation(), "What is 1234*5678?")
    assert turn.commands == 'Calculate("1234*5678")'
    assert turn.results == 'Calculate("1234*5678") => Error: Calculate is disabled in this conversation'


def test_history_beyond_the_context_drops_old_turns(taught_model):
    model, tok = taught_model
    assistant = Assistant(model, tok, toolbox=Toolbox(), meta=META, max_new_tokens=40)
    conversation = Conversation(meta=META, turns=[Turn(human="x" * 60, moss="y" * 60) for _ in range(4)])
    assistant.reply(conversation, "What is 1234*5678?")
    assert len(conversation.turns) < 5 and conversation.turns[-1].human == "What is 1234*5678?"
    with pytest.raises(ValueError, match="newest turn alone needs"):
        assistant.reply(assistant.new_conversation(), "z" * 600)


def test_tokenizer_without_chat_tokens_is_refused(taught_model):
    model, _ = taught_model

    class Plain(ByteTokenizer):
        special_tokens = {"<|endoftext|>": 256}

    with pytest.raises(ValueError, match="lacks the chat end tokens"):
        Assistant(model, Plain())
