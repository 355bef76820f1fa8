"""Teacher-made training data: backtranslate, expand and curate, on a resumable, rate-limited bulk runner.

Public API: `tailorkit.synth.recipes` (backtranslate, expand, curate, run_synth_step, SynthResult).
Modules: teacher/local (teachers), runner (bulk runner), cache, journal, limits, filters, parse,
prompts, sources, scorer, driver (final files), card, and one module per recipe.
"""
