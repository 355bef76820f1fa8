"""Tasks for the advise tests and benchmark (no tests here): a facts task the model cannot know.

`write_facts_task(root)` writes docs/ (one markdown file per invented island, each fact stated once)
and facts.csv (question -> answer rows, one per fact), and returns the tailor.yaml data section.
"""
from __future__ import annotations

import csv
from pathlib import Path

ISLANDS = [
    ("Vellmora", "Quenlor", "glass herons", "1847", "copper lanterns"),
    ("Drastakel", "Ommerby", "blue foxes", "1903", "salt bread"),
    ("Pryndle", "Austerwick", "singing crabs", "1765", "tin whistles"),
    ("Korvanth", "Lisselhaven", "red owls", "1922", "amber soap"),
    ("Ethermoor", "Calderwyn", "silver eels", "1811", "woven kites"),
    ("Zanquist", "Belltorr", "moss goats", "1956", "pepper honey"),
    ("Ulvaran", "Mirewold", "spotted seals", "1789", "clay bells"),
    ("Tormesh", "Haverlind", "golden moths", "1874", "kelp rope"),
]


def write_facts_task(root: Path) -> dict:
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    rows = []
    for island, capital, animal, year, export in ISLANDS:
        (docs / f"{island.lower()}.md").write_text(
            f"# {island}\n\n{island} is a small island in the Northern Sea.\n\n"
            f"## Facts\n\nThe capital of {island} is {capital}.\n"
            f"The island is famous for its {animal}, which live on the cliffs.\n"
            f"{island} was first mapped in {year} by a fishing crew.\n"
            f"Its best-known export is {export}, sold at the harbor market.\n", encoding="utf-8")
        rows += [(f"What is the capital of {island}?", f"The capital of {island} is {capital}."),
                 (f"What animals is {island} famous for?", f"{island} is famous for its {animal}."),
                 (f"When was {island} first mapped?", f"{island} was first mapped in {year}."),
                 (f"What is the best-known export of {island}?", f"The best-known export of {island} is {export}.")]
    with (root / "facts.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Question", "Answer"])
        w.writerows(rows)
    return {"source": "facts.csv", "columns": {"user": "Question", "assistant": "Answer"},
            "test_fraction": 0.25, "val_fraction": 0.1}
