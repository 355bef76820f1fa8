"""The data stage: load raw files into Examples, clean, dedupe, check token lengths, split, report.

load.py (entry: load_examples) -> clean.py -> dedupe.py -> lengths.py -> split.py; inspect.py and
prepare.py compose them. Imported lazily from `tailorkit` so `import tailorkit` stays fast.
"""
