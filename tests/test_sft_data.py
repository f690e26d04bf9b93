"""moss-003-sft-data JSONL: read, write, and bad records reported with their line numbers."""

import json

import pytest

from mosslite.chat import Conversation, MetaInstruction, Turn
from mosslite.data.sft import read_sft_jsonl, record_to_conversation, write_sft_jsonl

RECORD = {
    "conversation_id": 7,
    "meta_instruction": "You are an AI assistant whose name is MOSS.\n- Web search: enabled. API: Search(query)\n",
    "num_turns": 2,
    "chat": {
        "turn_1": {
            "Human": "<|Human|>: 黑暗荣耀的主演有谁<eoh>\n",
            "Inner Thoughts": "<|Inner Thoughts|>: 需要搜索<eot>\n",
            "Commands": '<|Commands|>: Search("黑暗荣耀 主演")<eoc>\n',
            "Tool Responses": '<|Results|>:\nSearch("黑暗荣耀 主演") =>\n<|1|>: "宋慧乔"\n<eor>\n',
            "MOSS": "<|MOSS|>: 主演有宋慧乔<sup><|1|></sup><eom>\n",
        },
        "turn_2": {
            "Human": "<|Human|>: Thanks!<eoh>\n",
            "Inner Thoughts": "<|Inner Thoughts|>: None<eot>\n",
            "Commands": "<|Commands|>: None<eoc>\n",
            "Tool Responses": "<|Results|>: None<eor>\n",
            "MOSS": "<|MOSS|>: You're welcome.<eom>\n",
        },
    },
    "category": "tool",
}


def test_reads_the_moss_003_layout():
    conv = record_to_conversation(RECORD)
    assert conv.meta.render() == RECORD["meta_instruction"]
    first, second = conv.turns
    assert first.human == "黑暗荣耀的主演有谁" and first.commands == 'Search("黑暗荣耀 主演")'
    assert first.results == 'Search("黑暗荣耀 主演") =>\n<|1|>: "宋慧乔"'
    assert second == Turn(human="Thanks!", moss="You're welcome.")


def test_write_then_read_round_trips(tmp_path):
    convs = [record_to_conversation(RECORD),
             Conversation(turns=[Turn(human="hi", moss="hello")], meta=MetaInstruction(tools=("Calculate",)))]
    assert write_sft_jsonl(convs, tmp_path / "sft.jsonl") == 2
    back, bad = read_sft_jsonl(tmp_path / "sft.jsonl")
    assert bad == []
    assert [c.turns for c in back] == [c.turns for c in convs]
    assert [c.render() for c in back] == [c.render() for c in convs]


def test_bad_records_are_reported_by_line(tmp_path):
    broken_turn = json.loads(json.dumps(RECORD))
    broken_turn["chat"]["turn_2"]["MOSS"] = "<|MOSS|>: no end token\n"
    wrong_count = dict(RECORD, num_turns=3)
    lines = [json.dumps(RECORD), "{not json", json.dumps(broken_turn), "", json.dumps(wrong_count), "[1, 2]"]
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"sft.jsonl: line 2: .*on_error='continue'"):
        read_sft_jsonl(path)
    with pytest.warns(UserWarning, match="4 bad record"):
        good, bad = read_sft_jsonl(path, on_error="continue")
    assert len(good) == 1
    assert [b.line for b in bad] == [2, 3, 5, 6]
    assert "turn_2.MOSS" in bad[1].reason and "num_turns is 3" in bad[2].reason
    with pytest.raises(FileNotFoundError, match="no SFT data file"):
        read_sft_jsonl(tmp_path / "missing.jsonl")
