"""Data for every stage: where text comes from, how it is cleaned, and how it becomes token arrays.

    world.py    the built-in bilingual world: a seeded knowledge base rendered into pretraining text, SFT dialogues,
                search snippets and evaluation questions (world_templates.py holds its words and templates)
    corpora.py  real text: a registry of corpora shipped in PyPI packages, user files, downloads, mixtures
    clean.py    a cleaning pipeline of named steps that report everything they remove (dirty_pages.py: test pages)
    pack.py     tokenise and pack into memory-mapped train/val arrays; `PackedTokens` reads them back
    sft.py      dialogues in the moss-003-sft-data JSONL layout

Import from the submodules (`from mosslite.data.world import World`): each stands alone, and none needs the model.
"""
