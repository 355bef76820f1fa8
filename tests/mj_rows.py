"""Midjourney-like (request, prompt) rows drawn from a vocabulary, with exact and near duplicates
injected: the data for the scale tests and benchmarks/bench_data_scale.py."""
from __future__ import annotations

import random

SUBJECTS = """astronaut knight samurai dragon fox owl robot android witch wizard mermaid viking pirate geisha
cyborg tiger wolf cat dog horse elephant whale octopus phoenix golem monk dancer violinist scientist explorer
queen king child grandmother soldier detective mechanic gardener chef sailor lighthouse castle cathedral temple
spaceship submarine train tram bicycle motorcycle airship treehouse skyscraper bridge village marketplace""".split()
ADJECTIVES = """ancient futuristic cyberpunk steampunk ethereal gothic whimsical melancholic serene chaotic neon
rusty golden crystalline overgrown abandoned floating colossal tiny ornate minimalist surreal dreamy haunted
luminous weathered elegant feral regal mysterious joyful lonely""".split()
SETTINGS = """in a misty forest|on a rainy street at night|under a blood moon|inside a glass greenhouse|in a desert
of red sand|on a frozen lake|in a flooded city|at the edge of a waterfall|in a bustling night market|on the
surface of mars|in a library of endless shelves|among cherry blossoms|in a storm at sea|on a mountain peak at
dawn|in a neon-lit alley|inside a clockwork tower|in an underwater ruin|in a field of sunflowers""".replace("\n", " ").split("|")
STYLES = """oil painting|watercolor|studio ghibli style|art nouveau|ukiyo-e woodblock print|concept art|matte
painting|35mm film photograph|pixar render|unreal engine 5|octane render|charcoal sketch|baroque painting|
synthwave poster|low poly|isometric diorama|pencil drawing|double exposure photograph""".replace("\n", " ").split("|")
DETAILS = """cinematic lighting|volumetric fog|golden hour|rim light|soft shadows|dramatic clouds|bokeh|highly
detailed|intricate details|8k|sharp focus|muted palette|vibrant colors|wide angle|macro shot|symmetrical
composition|god rays|film grain|hyperrealistic|trending on artstation""".replace("\n", " ").split("|")
PARAMS = ["--ar 16:9", "--ar 3:2", "--ar 1:1", "--ar 9:16", "--ar 4:5", "--v 5", "--v 6", "--stylize 250",
          "--chaos 20", "--q 2", "--niji 5", "--style raw"]
ASKS = ["midjourney prompt for", "a prompt for", "write a midjourney prompt for", "make an image of",
        "prompt:", "i want a picture of", "generate a prompt showing"]


def make_row(rng: random.Random) -> tuple[str, str]:
    adj, subj, setting = rng.choice(ADJECTIVES), rng.choice(SUBJECTS), rng.choice(SETTINGS)
    mood = rng.choice(ADJECTIVES)
    request = f"{rng.choice(ASKS)} a {adj} {subj} {setting}" + (f", {mood} mood" if rng.random() < 0.5 else "")
    extra = rng.sample(SUBJECTS, 2)
    parts = [f"a {adj} {subj} {setting}, with a {rng.choice(ADJECTIVES)} {extra[0]} and a {extra[1]} nearby",
             *rng.sample(STYLES, rng.randint(1, 2)), *rng.sample(DETAILS, rng.randint(3, 7))]
    prompt = ", ".join(parts) + " " + " ".join(rng.sample(PARAMS, rng.randint(1, 3)))
    return request, prompt


def near_copy(rng: random.Random, text: str) -> str:
    """A small edit that keeps the rapidfuzz ratio of typical prompts above 0.9."""
    words = text.split(" ")
    kind = rng.randrange(4)
    i = rng.randrange(len(words))
    if kind == 0 and len(words[i]) > 3:  # typo: swap two letters
        w = words[i]
        k = rng.randrange(len(w) - 1)
        words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
    elif kind == 1:  # a word added
        words.insert(i, rng.choice(["very", "beautiful", "small", "old", "bright"]))
    elif kind == 2 and len(words) > 8:  # a word dropped
        del words[i]
    else:  # a changed parameter
        words.append(rng.choice(PARAMS))
    return " ".join(words)


def make_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    while len(rows) < n:
        r = rng.random()
        if rows and r < 0.02:
            rows.append(rng.choice(rows))  # exact copy
        elif rows and r < 0.05:
            req, ans = rng.choice(rows)
            rows.append((near_copy(rng, req), near_copy(rng, ans)))
        else:
            rows.append(make_row(rng))
    return rows
