"""Beyond one machine: `export_hf` and the tokenizer's `save` write the folder an existing serving engine (vLLM, TGI)
loads. The check runs in a child process with no mosslite code at all, so the folder alone must be enough for
`transformers`: the same logits, the same greedy tokens, the same token ids for a MOSS turn."""

import json
import os
import subprocess
import sys

import torch

from mosslite.config import get_config
from mosslite.generate import generate
from mosslite.interop import export_hf
from mosslite.model import build_model
from mosslite.tokenizer import train_tokenizer

TEXT = "<|Human|>: Where does Leli live?<eoh>\n<|MOSS|>: Leli lives in Tavavik.<eom>\n"

HF_CHILD = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tokenizer(sys.argv[2], return_tensors="pt").input_ids
with torch.no_grad():
    logits = model(ids).logits[0, -1]
    greedy = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, ids.shape[1]:]
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "mosslite")
print(json.dumps({"arch": type(model).__name__, "leaked": leaked, "ids": ids[0].tolist(), "logits": logits.tolist(),
                  "greedy": greedy.tolist()}))
"""


def test_hf_export_loads_in_transformers_with_no_mosslite_code(tmp_path):
    tokenizer = train_tokenizer([TEXT * 3, "Leli lives in Tavavik. 莱莉住在塔瓦维克。"] * 20, vocab_size=320)
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=tokenizer.vocab_size)).eval()
    export_hf(model, tmp_path / "hf")
    tokenizer.save(tmp_path / "hf")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", HF_CHILD, str(tmp_path / "hf"), TEXT], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120, check=True)
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["arch"] == "CodeGenForCausalLM" and child["leaked"] == []
    ids = tokenizer.encode(TEXT, allowed_special="all")
    assert child["ids"] == ids  # the end tokens are single special ids on both sides
    with torch.no_grad():
        ours = model(torch.tensor([ids]))[0, -1]
    torch.testing.assert_close(torch.tensor(child["logits"]), ours, atol=1e-5, rtol=1e-5)
    assert child["greedy"] == generate(model, [ids], 8)[0]
