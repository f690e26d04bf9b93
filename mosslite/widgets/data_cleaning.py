"""A dirty page, line by line, coloured by the cleaning step that removed or edited each line (hover for the reason);
steps can be switched off to see what each one is responsible for."""

from __future__ import annotations

import html

import ipywidgets as widgets

from mosslite.data.clean import LineView, Pipeline, explain

STEP_COLORS = {"normalize": "#fff3bf", "boilerplate": "#ffc9c9", "language": "#d0bfff", "repeats": "#a5d8ff",
               "quality": "#ffd8a8", "exact_dup": "#b2f2bb", "near_dup": "#96f2d7"}


def render_lines(views: list[LineView]) -> str:
    """HTML for one explained page: removed lines struck through on their step's colour, edits shown as
    before → after, kept lines plain; every coloured line carries its step and reason as a tooltip."""
    rows = []
    for view in views:
        text = html.escape(view.text) or "&nbsp;"
        if view.status == "kept":
            rows.append(f"<div>{text}</div>")
            continue
        color = STEP_COLORS.get(view.step, "#e9ecef")
        tip = html.escape(f"{view.step}: {view.reason}", quote=True)
        if view.status == "removed":
            body = f"<s>{text}</s> <small style='color:#555'>[{html.escape(view.step)}: {html.escape(view.reason)}]</small>"
        else:
            body = f"<s>{text}</s> → {html.escape(view.after)}"
        rows.append(f"<div title='{tip}' style='background:{color}'>{body}</div>")
    return "<div style='font-family:monospace;font-size:12px;line-height:1.5'>" + "".join(rows) + "</div>"


def legend() -> str:
    chips = "".join(f"<span style='background:{c};padding:1px 6px;margin-right:4px'>{s}</span>"
                    for s, c in STEP_COLORS.items())
    return f"<div style='font-size:12px;margin:4px 0'>{chips}</div>"


class CleaningViewer(widgets.VBox):
    """Pick a page and the steps to run; the pages listed before it are cleaned first, so dedup can see them."""

    def __init__(self, pages: dict[str, str], pipeline: Pipeline | None = None) -> None:
        self.pages = pages
        self.all_steps = (pipeline or Pipeline.default()).steps
        self.page = widgets.Dropdown(options=list(pages), description="page")
        self.toggles = [widgets.Checkbox(value=True, description=s.name, indent=False,
                                         layout=widgets.Layout(width="110px")) for s in self.all_steps]
        self.view = widgets.HTML()
        self.summary = widgets.HTML()
        for control in [self.page, *self.toggles]:
            control.observe(lambda _: self.refresh(), names="value")
        super().__init__([self.page, widgets.HBox(self.toggles), widgets.HTML(legend()), self.view, self.summary])
        self.refresh()

    def refresh(self) -> None:
        steps = [s for s, t in zip(self.all_steps, self.toggles) if t.value]
        names = list(self.pages)
        before = [self.pages[n] for n in names[: names.index(self.page.value)]]
        views = explain(self.pages[self.page.value], Pipeline(steps), before)
        self.view.value = render_lines(views)
        removed = sum(v.status == "removed" for v in views if v.text.strip())
        edited = sum(v.status == "edited" for v in views)
        total = sum(1 for v in views if v.text.strip())
        self.summary.value = f"<b>{removed}</b> of {total} lines removed, <b>{edited}</b> edited"
