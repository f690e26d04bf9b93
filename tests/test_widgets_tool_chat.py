"""The tool-use chat, driven headless by a scripted "model": the toggles rewrite the meta instruction and the
toolbox together, the runtime's tool result lands between the model's two passes, and the timeline shows each step."""

from types import SimpleNamespace

import pytest
from conftest import ByteTokenizer

from mosslite.assistant import Assistant
from mosslite.chat import COMPACT_META
from mosslite.tools import BM25Index, Toolbox
from mosslite.widgets.tool_chat import ToolChat, timeline_html

SCRIPT = {"<|Inner Thoughts|>:": " The numbers are large.", "<|Commands|>:": ' Calculate("1234*56")',
          "<|MOSS|>:": " 1234 x 56 = {result}."}


def scripted_stream(tokenizer, seen_prompts):
    """A stand-in for generate.stream: writes SCRIPT's text for whichever field the prompt opens, then its end
    token; the answer quotes whatever the runtime put in <|Results|>."""
    ends = {"<|Inner Thoughts|>:": "<eot>", "<|Commands|>:": "<eoc>", "<|MOSS|>:": "<eom>"}

    def stream(model, prompt, max_new_tokens, stop_tokens=(), **sampling):
        text = tokenizer.decode(prompt)
        seen_prompts.append(text)
        header = next(h for h in SCRIPT if text.endswith(h))
        result = text.rsplit("=>", 1)[-1].split("<eor>")[0].strip() if "=>" in text else "?"
        yield from tokenizer.encode(SCRIPT[header].format(result=result))
        yield tokenizer.special_tokens[ends[header]]

    return stream


@pytest.fixture
def chat():
    tok, prompts = ByteTokenizer(), []
    toolbox = Toolbox(index=BM25Index(["Kelob lives in Morvik."]))
    model = SimpleNamespace(config=SimpleNamespace(block_size=2048))  # the stream below never calls it
    assistant = Assistant(model=model, tokenizer=tok, toolbox=toolbox, meta=COMPACT_META,
                          token_stream=scripted_stream(tok, prompts), max_new_tokens=64)
    return ToolChat(assistant), prompts


def test_toggles_rewrite_the_meta_instruction_and_the_toolbox(chat):
    widget, prompts = chat
    assert widget.enabled() == ()  # COMPACT_META enables nothing
    widget.toggles["Calculate"].value = True
    assert widget.assistant.meta.tools == ("Calculate",) == widget.assistant.toolbox.enabled
    assert "- Calculator: enabled. API: Calculate(expression)" in widget.panel.raw_prompt()
    widget.set_tools("Search", "Solve")
    assert widget.toggles["Search"].value and not widget.toggles["Calculate"].value
    assert "- Calculator: disabled." in widget.panel.raw_prompt()
    with pytest.raises(ValueError, match="unknown tools"):
        widget.set_tools("Python")


def test_a_turn_shows_thoughts_command_runtime_result_and_answer_in_order(chat):
    widget, prompts = chat
    widget.set_tools("Calculate")
    turn = widget.send("Mia has 1234 boxes of 56 pens. How many pens?")
    assert turn.results == 'Calculate("1234*56") => 69104' and turn.moss == "1234 x 56 = 69104."
    assert [name for name, _, _ in widget.steps] == ["inner_thoughts", "commands", "results", "moss"]
    times = [ms for _, ms, _ in widget.steps]
    assert times == sorted(times)
    assert "runtime" in widget.timeline.value and "69104" in widget.timeline.value
    assert "Calculate(&quot;1234*56&quot;) =&gt; 69104" in widget.panel.view.value
    assert prompts[-1].endswith("=> 69104<eor>\n<|MOSS|>:")  # the second pass starts after the results


def test_a_disabled_tool_answers_with_an_error_result_not_a_crash(chat):
    widget, _ = chat
    widget.set_tools("Search")
    turn = widget.send("What is 1234*56?")
    assert turn.results == 'Calculate("1234*56") => Error: Calculate is disabled in this conversation'
    assert "disabled" in widget.timeline.value


def test_typing_into_the_box_also_draws_the_timeline(chat):
    widget, _ = chat
    widget.set_tools("Calculate")
    widget.panel.input.value = "1234*56?"
    assert [name for name, _, _ in widget.steps] == ["inner_thoughts", "commands", "results", "moss"]
    assert timeline_html([]) == ""
