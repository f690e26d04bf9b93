"""A Jupyter chat panel over `mosslite.assistant`: type a message, watch the turn stream in field by field.

Every streamed `Event` is drawn as it arrives, inner thoughts, commands and tool results included, so the tool-use
chapter shows the two-pass loop with this same panel. Sampling sliders, a raw-prompt toggle (the exact text the model
continued, ending in the runtime-written `<|MOSS|>:`) and a reset sit beside it. `send()` drives it without a browser.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import ipywidgets as w

from mosslite.assistant import Assistant, Event
from mosslite.chat import HEADERS, Turn
from mosslite.generate import SamplingConfig

TOOL_FIELDS = ("inner_thoughts", "commands", "results")  # shown between the question and the answer
_BUBBLE = "display:inline-block;max-width:90%;padding:4px 8px;margin:2px 0;border-radius:8px;white-space:pre-wrap"


def sampling_from(temperature: float, top_k: int, top_p: float, repetition_penalty: float = 1.0) -> SamplingConfig:
    """The sliders' values as a SamplingConfig: top_k 0 and top_p 1 mean "off", temperature 0 means greedy."""
    return SamplingConfig(temperature, top_k or None, top_p if top_p < 1 else None, repetition_penalty)


def turn_html(turn: dict[str, str], show_fields: bool = True, live: str | None = None) -> str:
    """One exchange: the user's message, the tool fields that are not `None` (when `show_fields`), and the answer.
    `live` names the field still being written; it gets a cursor."""
    parts = [f'<div style="text-align:right"><span style="{_BUBBLE};background:#fff3bf">'
             f"{html.escape(turn.get('human', ''))}</span></div>"]
    for name in TOOL_FIELDS if show_fields else ():
        text = turn.get(name)
        if text is None or (text.strip() == "None" and live != name):
            continue
        cursor = "▌" if live == name else ""
        parts.append(f'<div style="font-family:monospace;font-size:11px;color:#5f3dc4;margin-left:12px;'
                     f'white-space:pre-wrap">{html.escape(HEADERS[name])} {html.escape(text.strip())}{cursor}</div>')
    if "moss" in turn:
        cursor = "▌" if live == "moss" else ""
        parts.append(f'<div><span style="{_BUBBLE};background:#d3f9d8"><b>MOSS</b> '
                     f"{html.escape(turn['moss'].strip())}{cursor}</span></div>")
    return "".join(parts)


def transcript_html(transcript: list[dict[str, str]], show_fields: bool = True, live: str | None = None) -> str:
    """Every exchange so far, the last one possibly still streaming (`live`)."""
    if not transcript:
        return '<div style="color:#868e96">Type a message and press Enter.</div>'
    last = len(transcript) - 1
    return "".join(turn_html(t, show_fields, live if i == last else None) for i, t in enumerate(transcript))


class ChatPanel(w.VBox):
    """A chat over one `Assistant`. Listeners (`panel.listeners.append(f)`) receive every Event as it streams."""

    def __init__(self, assistant: Assistant, title: str = "", temperature: float = 0.7, top_k: int = 40,
                 top_p: float = 0.8, show_fields: bool = True) -> None:
        self.assistant = assistant
        self.conversation = assistant.new_conversation()
        self.transcript: list[dict[str, str]] = []  # what the user saw; the model's history may have dropped turns
        self.events: list[Event] = []  # the last turn's events, in order
        self.listeners: list[Callable[[Event], None]] = []
        self._busy = False

        self.input = w.Text(placeholder="Message MOSS (Enter sends)", continuous_update=False,
                            layout=w.Layout(width="70%"))
        self.send_button = w.Button(description="send", button_style="primary")
        self.reset_button = w.Button(description="reset")
        self.temperature = w.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.05,
                                         description="temperature")
        self.top_k = w.IntSlider(value=top_k, min=0, max=100, description="top-k")
        self.top_p = w.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top-p")
        self.show_fields = w.Checkbox(value=show_fields, description="show thoughts, commands, results")
        self.show_prompt = w.Checkbox(value=False, description="show raw prompt")
        self.view, self.status, self.prompt_view = w.HTML(), w.HTML(), w.HTML()

        self.input.observe(lambda change: self.send(change["new"]) if change["new"].strip() else None, names="value")
        self.send_button.on_click(lambda _: self.send())
        self.reset_button.on_click(lambda _: self.reset())
        for box in (self.show_fields, self.show_prompt):
            box.observe(lambda _: self.redraw(), names="value")
        header = [w.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        super().__init__(header + [
            self.view, w.HBox([self.input, self.send_button, self.reset_button]), self.status,
            w.HBox([self.temperature, self.top_k, self.top_p]), w.HBox([self.show_fields, self.show_prompt]),
            self.prompt_view])
        self.redraw()

    def sampling(self) -> SamplingConfig:
        return sampling_from(self.temperature.value, self.top_k.value, self.top_p.value,
                             self.assistant.sampling.repetition_penalty)

    def send(self, message: str | None = None) -> Turn | None:
        """Answer `message` (or the input box's text), streaming into the view; returns the finished turn."""
        message = (self.input.value if message is None else message).strip()
        if not message or self._busy:
            return None
        self._busy = True
        try:
            self.input.value = ""
            return self._respond(message)
        finally:
            self._busy = False

    def _respond(self, message: str) -> Turn | None:
        self.assistant.sampling = self.sampling()
        shown: dict[str, str] = {"human": message}
        self.transcript.append(shown)
        self.events = []
        start, n_chars = time.perf_counter(), 0
        try:
            for event in self.assistant.respond(self.conversation, message):
                self.events.append(event)
                for listener in self.listeners:
                    listener(event)
                shown[event.field] = shown.get(event.field, "") + event.text
                n_chars += len(event.text)
                self.redraw(live=None if event.done else event.field)
        except ValueError as err:  # e.g. a message longer than the model's context
            if self.conversation.turns and self.conversation.turns[-1].human == message:
                self.conversation.turns.pop()
            self.transcript.pop()
            self.status.value = f'<span style="color:#e03131">{html.escape(str(err))}</span>'
            self.redraw()
            return None
        elapsed = time.perf_counter() - start
        self.status.value = (f'<span style="color:#868e96;font-size:11px">{n_chars} characters in {elapsed:.1f} s · '
                             f"{len(self.conversation.turns)} turn(s) in the model's context</span>")
        self.redraw()
        return self.conversation.turns[-1]

    def reset(self) -> None:
        """Forget the conversation: a new one with the assistant's meta instruction."""
        self.conversation = self.assistant.new_conversation()
        self.transcript, self.events = [], []
        self.status.value = ""
        self.redraw()

    def raw_prompt(self) -> str:
        """The text the model continued to write the last answer (the meta instruction alone before any turn)."""
        if not self.conversation.turns:
            return self.conversation.render()
        return self.conversation.render(open_field="moss")

    def redraw(self, live: str | None = None) -> None:
        self.view.value = transcript_html(self.transcript, self.show_fields.value, live)
        if self.show_prompt.value:
            self.prompt_view.value = ('<pre style="font-size:11px;background:#f8f9fa;padding:4px;white-space:pre-wrap">'
                                      f"{html.escape(self.raw_prompt())}</pre>")
        else:
            self.prompt_view.value = ""


def chat_panel(assistant: Assistant, title: str = "", **sampling) -> ChatPanel:
    """A chat panel over `assistant`; `sampling` sets the sliders' start values (temperature, top_k, top_p)."""
    return ChatPanel(assistant, title, **sampling)

