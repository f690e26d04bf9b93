"""Chapter 5 exercises: the MOSS conversation format, its loss masks, and a LoRA layer.

Replace each `raise NotImplementedError` with your code, then run `pytest exercises/ch05_instruction_tuning`.
Use the constants of `mosslite.chat` (FIELDS, HEADERS, END_TOKENS, WRITER, IGNORE_INDEX) but not its functions:
the tests compare your results with them.
"""

from __future__ import annotations

from torch import Tensor, nn

from mosslite.chat import END_TOKENS, FIELDS, HEADERS, IGNORE_INDEX, WRITER, Conversation  # noqa: F401


def render(conversation: Conversation, open_field: str | None = None) -> str:
    """The conversation as MOSS text: `conversation.meta.render()`, then for every turn and every field of FIELDS, in
    order, one line `HEADERS[field] + " " + content + END_TOKENS[field] + "\\n"`, for example
    `<|Human|>: Hi<eoh>\\n<|Inner Thoughts|>: None<eot>\\n … <|MOSS|>: Hello!<eom>\\n`.

    With `open_field` (e.g. "moss"), the last turn stops right after that field's header (`…<|MOSS|>:`, no space):
    the prompt the model continues. The runtime writes that header, never the model.
    """
    raise NotImplementedError


def loss_mask(conversation: Conversation, tokenizer, policy: str) -> tuple[list[int], list[int]]:
    """(input ids, labels) for SFT; labels[i] is ids[i] where the policy trains that token, IGNORE_INDEX elsewhere.

    Encode the conversation as a sequence of pieces, each encoded on its own with `tokenizer.encode(text)` and the
    ids concatenated: the meta instruction (`conversation.meta.render()`), then for every turn and field: the header
    (e.g. "<|Human|>:"), the content with one space before it (" Hi"), the end token as its single special id
    (`tokenizer.special_tokens["<eoh>"]`), and the newline "\\n".

    Which pieces carry loss:
    - policy "moss" (what MOSS trained): every piece except the meta instruction and the *content* of the Results
      field (tool output); the user's words, every header, every end token and newline are trained;
    - policy "assistant": only the content and end tokens of the fields the assistant writes (WRITER[field] ==
      "assistant": inner thoughts, commands, the answer). Headers and newlines are written by the runtime, not
      trained.
    Any other policy name is a ValueError.
    """
    raise NotImplementedError


class LoRALinear(nn.Module):
    """A frozen `base` nn.Linear plus a trainable low-rank update: y = base(x) + (x A^T B^T) · alpha / rank.

    Attributes the tests read: `base` (its parameters frozen: requires_grad False), `lora_a` (nn.Parameter
    [rank, in_features], initialised randomly, e.g. `nn.init.kaiming_uniform_(…, a=math.sqrt(5))`), `lora_b`
    (nn.Parameter [out_features, rank], zeros, so the layer starts exactly as `base`), and `scale` = alpha / rank.
    """

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def merge(self) -> nn.Linear:
        """A new plain nn.Linear (same shape, same bias) whose weight has the update folded in: W + B A · scale."""
        raise NotImplementedError
