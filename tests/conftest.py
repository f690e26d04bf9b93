"""Shared test helpers."""

SPECIALS = ["<|endoftext|>", "<eoh>", "<eom>", "<eot>", "<eoc>", "<eor>"]


class ByteTokenizer:
    """Bytes as ids 0-255 and the special tokens after them: enough to pin masks character by character."""

    special_tokens = {tok: 256 + i for i, tok in enumerate(SPECIALS)}

    def encode(self, text, allowed_special="none"):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        names = {v: k for k, v in self.special_tokens.items()}
        out, buf = [], bytearray()
        for i in ids:
            if i in names:
                out.append(buf.decode("utf-8") + names[i])
                buf = bytearray()
            else:
                buf.append(i)
        return "".join(out) + buf.decode("utf-8")
