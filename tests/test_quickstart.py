"""The quickstart runs end to end in its smoke size: every stage, the chat (with a Chinese question) and the scores."""

from mosslite.cli import main as cli_main


def test_quickstart_smoke_runs_every_stage(tmp_path, capsys):
    assert cli_main(["quickstart", "--smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    stages = [line.split("]")[0] + "]" for line in out.splitlines() if line.startswith("[")]
    assert list(dict.fromkeys(stages)) == ["[data]", "[tokenizer]", "[pretrain]", "[sft]", "[chat]", "[eval]",
                                           "[done]"]
    chat = [line for line in out.splitlines() if line.startswith("[chat] user:")]
    assert len(chat) == 3 and any("\u4e00" <= ch <= "\u9fff" for ch in chat[-1])
    assert "base:" in out and "tuned:" in out and "held-out questions" in out
    (run,) = tmp_path.iterdir()
    assert (run / "sft" / "final" / "tokenizer.json").is_file() and (run / "pretrain" / "final").is_dir()
