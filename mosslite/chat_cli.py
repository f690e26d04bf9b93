"""`mosslite chat --checkpoint DIR`: talk to a fine-tuned model in the terminal, the answer streaming as it is made.

Commands: `/reset` starts a new conversation, `/system <text>` replaces the rules of the meta instruction (`/system`
alone shows the prompt's meta instruction), `/temperature <x>` changes sampling (0 = greedy), `/quit` leaves.
The loop is `chat_loop`, which reads lines from any iterable and writes through any function, so tests drive it
without a terminal. Every turn goes through `mosslite.assistant`: it writes the role headers itself, ends the answer
at <eom>, and keeps the history inside the model's context (oldest turns dropped first, meta instruction kept).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from mosslite.assistant import Assistant
from mosslite.chat import Conversation, MetaInstruction

HELP = "/reset  new conversation | /system <text>  set the rules | /temperature <x>  0 = greedy | /quit"


def load_assistant(checkpoint: str | Path, tokenizer: str | Path | None = None, temperature: float = 0.7,
                   top_p: float | None = 0.8, repetition_penalty: float = 1.02, max_new_tokens: int = 128,
                   tools: tuple[str, ...] = (), seed: int | None = None, prepack: bool = False) -> Assistant:
    """An `Assistant` around the model in `checkpoint`, prompted as `sft` tuned it: the tokenizer.json and chat.json
    (meta-instruction rules; the world whose facts `Search` finds) saved beside the weights. Sampling defaults are
    MOSS's README settings. `prepack` stores the linear layers in oneDNN's layout for faster CPU decoding."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.world import World, WorldConfig
    from mosslite.generate import SamplingConfig
    from mosslite.tokenizer import load_tokenizer
    from mosslite.tools import Toolbox
    from mosslite.train.sft_config import CHAT_SETTINGS

    folder = Path(checkpoint)
    source = Path(tokenizer) if tokenizer else folder
    if not tokenizer and not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{folder} holds no tokenizer.json (mosslite sft saves one there); pass --tokenizer "
                                f"with the tokenizer the model was trained with")
    model = load_checkpoint(folder).eval()
    if prepack:
        from mosslite.prepack import prepack_linears

        prepack_linears(model)
    settings = json.loads((folder / CHAT_SETTINGS).read_text()) if (folder / CHAT_SETTINGS).is_file() else {}
    meta = MetaInstruction(rules=tuple(settings.get("rules", MetaInstruction().rules)), tools=tuple(tools))
    toolbox = Toolbox(enabled=tuple(tools))
    if "Search" in tools:  # the world the model was tuned on is what it can look up
        toolbox = World(WorldConfig(**_tuples(settings.get("world", {})))).toolbox()
        toolbox = replace(toolbox, enabled=tuple(tools))
    return Assistant(model, load_tokenizer(source), toolbox=toolbox, meta=meta,
                     sampling=SamplingConfig(temperature, top_p=top_p, repetition_penalty=repetition_penalty),
                     max_new_tokens=max_new_tokens, seed=seed)


def chat_loop(assistant: Assistant, lines: Iterable[str], write: Callable[[str], None],
              flush: Callable[[], None] = lambda: None) -> Conversation:
    """Answer each line (or run it as a /command), streaming the reply through `write`; returns the conversation.
    A message too long for the model's context is reported and not sent."""
    conversation = assistant.new_conversation()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, arg = line.partition(" ")
            if command in ("/quit", "/exit"):
                break
            conversation = _command(assistant, conversation, command, arg.strip(), write)
            continue
        write("MOSS: ")
        try:
            _stream_reply(assistant, conversation, line, write, flush)
        except ValueError as err:  # a message too long for the context: say so, keep chatting
            del conversation.turns[-1:]
            write(f"(not sent: {err})")
        write("\n")
        flush()
    return conversation


def _stream_reply(assistant: Assistant, conversation: Conversation, message: str, write: Callable[[str], None],
                  flush: Callable[[], None]) -> None:
    """Write the answer as it streams; thoughts, commands and results (in brackets) only when they are not None."""
    pending = ""
    for event in assistant.respond(conversation, message):
        if event.field == "moss":
            write(event.text)
            flush()
        elif event.done:
            text = (pending + event.text).strip()
            if text and text != "None":
                write(f"[{event.field.replace('_', ' ')}: {text}]\n      ")
            pending = ""
        else:
            pending += event.text


def _command(assistant: Assistant, conversation: Conversation, command: str, arg: str,
             write: Callable[[str], None]) -> Conversation:
    """Run one /command; returns the conversation to continue (a new one after /reset)."""
    if command == "/reset":
        write("(new conversation)\n")
        return assistant.new_conversation()
    if command == "/system":
        if not arg:
            write(conversation.meta.render())
            return conversation
        # The new rules apply from the next turn on, and to every conversation after a /reset.
        assistant.meta = MetaInstruction(rules=(arg,), tools=assistant.meta.tools,
                                         inner_thoughts=assistant.meta.inner_thoughts)
        conversation.meta = assistant.meta
        write("(meta instruction updated)\n")
        return conversation
    if command == "/temperature":
        try:
            assistant.sampling = replace(assistant.sampling, temperature=float(arg))
        except ValueError as err:
            write(f"(/temperature needs a number >= 0: {err})\n")
        else:
            write(f"(temperature {assistant.sampling.temperature})\n")
        return conversation
    write(f"(unknown command {command}; {HELP})\n")
    return conversation


def _tuples(world: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in world.items()}


def _terminal_lines(prompt: str = "you> ") -> Iterator[str]:
    """Lines typed at the terminal (with a prompt when interactive) or piped in; ends at EOF or Ctrl-C."""
    interactive = sys.stdin.isatty()
    try:
        while True:
            if interactive:
                line = input(prompt)
            else:
                line = sys.stdin.readline()
                if not line:
                    return
            yield line
    except (EOFError, KeyboardInterrupt):
        return


def run(args: argparse.Namespace) -> int:
    assistant = load_assistant(args.checkpoint, args.tokenizer, args.temperature, args.top_p,
                               args.repetition_penalty, args.max_new_tokens, tuple(args.tools), args.seed,
                               args.prepack)
    print(f"mosslite chat: {args.checkpoint} ({assistant.model.config.name}, context "
          f"{assistant.model.config.block_size} tokens). {HELP}")
    chat_loop(assistant, _terminal_lines(), sys.stdout.write, sys.stdout.flush)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("chat", help="chat with a fine-tuned checkpoint in the terminal (streaming)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a folder written by `mosslite sft` (its final/ folder)")
    p.add_argument("--tokenizer", default=None, help="default: tokenizer.json inside the checkpoint folder")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.8)
    p.add_argument("--repetition-penalty", type=float, default=1.02)
    p.add_argument("--max-new-tokens", type=int, default=128, help="per field of a turn")
    p.add_argument("--tools", nargs="*", default=[], choices=["Search", "Calculate", "Solve"],
                   help="tools the meta instruction enables (Search looks up the world in chat.json)")
    p.add_argument("--seed", type=int, default=None, help="makes sampling reproducible")
    p.add_argument("--prepack", action="store_true", help="faster CPU decoding: the linear layers' weights stored "
                   "once in oneDNN's layout (same numbers)")
    p.set_defaults(func=run)
