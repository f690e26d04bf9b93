"""Emergent translation as a controlled experiment (chapter 6): does a little Chinese in pretraining let an English-only
instruction-tuned model answer Chinese questions about facts it only ever read in English?

    design.py    the cell (Chinese share, model size, data design, length, seed) and the world it trains on
    pipeline.py  tokenizer -> corpus -> cached pretrained base -> cloze probe -> English SFT -> chat probe
    score.py     the cloze and chat probes and their scores (knowledge transfer, answer language, upper bound)
    sweep.py     named sweeps over cells: JSON + CSV + plots under results/translation/
    inside.py    hidden-state similarity of English sentences and their Chinese counterparts, per layer
    realdata.py  a model pretrained on English text + a little People's Daily, prompted with HSK sentences
"""
