"""The tool-use chat: chapter 5's streaming `ChatPanel`, plus a switch per plugin and a timeline of the two-pass loop.

Switching a tool on or off rewrites the meta instruction ("- Calculator: enabled. API: Calculate(expression)") and
the runtime's toolbox together, then starts a fresh conversation. Under the chat, each field is listed the moment it
ends, with who wrote it (the model or the runtime) and when, so the pause at `<eoc>` where the tools run is visible.
"""

from __future__ import annotations

import html
import time
from dataclasses import replace

import ipywidgets as w

from mosslite.assistant import Assistant, Event
from mosslite.chat import HEADERS, Turn
from mosslite.tools import TOOL_LINES
from mosslite.widgets.chat_panel import ChatPanel

WRITTEN_BY = {"inner_thoughts": "model", "commands": "model", "results": "runtime", "moss": "model"}


def timeline_html(steps: list[tuple[str, float, str]]) -> str:
    """One row per finished field: its header, who wrote it, milliseconds since the message, and its text."""
    if not steps:
        return ""
    rows = "".join(
        f'<tr><td style="font-family:monospace">{html.escape(HEADERS[name])}</td><td>{WRITTEN_BY[name]}</td>'
        f'<td style="text-align:right">{ms:.0f} ms</td><td style="font-family:monospace;white-space:pre-wrap">'
        f"{html.escape(text.strip()[:200])}</td></tr>" for name, ms, text in steps)
    return ('<table style="font-size:11px"><tr><th>field</th><th>written by</th><th>done at</th><th>text</th></tr>'
            f"{rows}</table>")


class ToolChat(w.VBox):
    """A `ChatPanel` over `assistant` with one checkbox per plugin; `steps` is the last turn's timeline."""

    def __init__(self, assistant: Assistant, title: str = "", **sampling) -> None:
        self.assistant = assistant
        self.panel = ChatPanel(assistant, title, **sampling)
        on = set(assistant.meta.tools) & set(assistant.toolbox.enabled)
        self.toggles = {tool: w.Checkbox(value=tool in on, description=f"{label} ({tool})")
                        for tool, (label, _) in TOOL_LINES.items()}
        for box in self.toggles.values():
            box.observe(lambda _: self._apply(), names="value")
        self.timeline = w.HTML()
        self.steps: list[tuple[str, float, str]] = []
        self._start, self._text, self._fresh = 0.0, "", True
        self.panel.listeners.append(self._on_event)
        self._apply()
        super().__init__([w.HBox(list(self.toggles.values())), self.panel, self.timeline])

    def enabled(self) -> tuple[str, ...]:
        return tuple(tool for tool, box in self.toggles.items() if box.value)

    def set_tools(self, *tools: str) -> None:
        """Enable exactly `tools` (as clicking the checkboxes would); the conversation starts over."""
        unknown = set(tools) - set(self.toggles)
        if unknown:
            raise ValueError(f"unknown tools {sorted(unknown)}; choose from {list(self.toggles)}")
        with self.hold_trait_notifications():
            for tool, box in self.toggles.items():
                box.value = tool in tools
        self._apply()

    def _apply(self) -> None:
        tools = self.enabled()
        self.assistant.meta = replace(self.assistant.meta, tools=tools)
        self.assistant.toolbox = replace(self.assistant.toolbox, enabled=tools)
        self.panel.reset()  # the meta instruction changed: the old conversation no longer matches it
        self.steps, self.timeline.value = [], ""

    def send(self, message: str) -> Turn | None:
        """Answer `message` in the panel, drawing the timeline as each field ends."""
        self._begin()
        return self.panel.send(message)

    def _begin(self) -> None:
        self.steps, self._start, self._text, self._fresh = [], time.perf_counter(), "", False

    def _on_event(self, event: Event) -> None:
        if self._fresh:  # a message typed into the box: the clock starts at its first event
            self._begin()
        self._text += event.text
        if event.done:
            self.steps.append((event.field, 1000 * (time.perf_counter() - self._start), self._text))
            self._text = ""
            self.timeline.value = timeline_html(self.steps)
            self._fresh = event.field == "moss"


def tool_chat(assistant: Assistant, title: str = "", **sampling) -> ToolChat:
    """A tool-use chat over `assistant`; `sampling` sets the sliders' start values (temperature, top_k, top_p)."""
    return ToolChat(assistant, title, **sampling)
