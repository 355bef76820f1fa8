"""The pairwise judge's mechanics against a real local judge server: swaps, ties, intervals, length
control, parse failures, the cache, and a refused URL."""
from __future__ import annotations

import pytest

from judge_server import serve_judge
from local_http import free_port
from tailorkit.config import build_config
from tailorkit.errors import TeacherError
from tailorkit.evaluate.judge import JudgeRow, judge_pairs, parse_verdict, probe_judge


def _cfg(tmp_path, url, **judge):
    return build_config({"compare": {"judge": {"base_url": url, "model": "judge", "retry_base_s": 0.01,
                                               "max_retries": 1, "cache": str(tmp_path / "judge.sqlite"),
                                               **judge}}}, root=tmp_path)


def _rows(n=20, tuned_longer=14, bad=0):
    rows = []
    for i in range(n):
        short, long = f"answer {i} short", f"answer {i} is a much longer answer with many more words"
        tuned_is_long = i < tuned_longer
        request = f"request {i}" + (" [[bad]]" if i < bad else "")
        rows.append(JudgeRow(request, f"reference {i}", base=short if tuned_is_long else long,
                             tuned=("TUNED " + (long if tuned_is_long else short))))
    return rows


def test_position_biased_judge_gives_fifty_percent_and_all_ties(tmp_path):
    with serve_judge("first") as (url, log):
        res = judge_pairs(_cfg(tmp_path, url), _rows())
    assert len(log) == 40  # every row in both orders
    assert res.win_rate == 0.5 and res.ties == 20 and res.inconsistent == 20 and res.wins == res.losses == 0
    assert res.verdict == "insufficient evidence"
    assert all(r["outcome"] == "tie" and not r["consistent"] for r in res.rows)


def test_always_tuned_judge_interval_excludes_half(tmp_path):
    with serve_judge("tuned") as (url, _):
        res = judge_pairs(_cfg(tmp_path, url), _rows())
    assert res.win_rate == 1.0 and res.wins == 20
    assert res.interval[0] > 0.5 and res.verdict == "tuned better"
    assert res.rows[0]["reasons"][0] == "tuned judge picked B"  # order 1: tuned is answer B


def test_length_biased_judge_is_pulled_toward_half_by_length_control(tmp_path):
    with serve_judge("longer") as (url, _):
        res = judge_pairs(_cfg(tmp_path, url), _rows(tuned_longer=14))
    assert res.win_rate == pytest.approx(0.7)
    assert abs(res.length_controlled - 0.5) < abs(res.win_rate - 0.5) - 0.05


def test_malformed_json_counts_as_parse_failure_not_loss(tmp_path):
    with serve_judge("malformed") as (url, _):
        res = judge_pairs(_cfg(tmp_path, url), _rows(bad=5))
    assert res.parse_failures == 5 and res.judged == 15 and res.losses == 0 and res.win_rate == 1.0
    assert res.rows[0]["outcome"] == "parse_failure" and "first one" in res.rows[0]["raw"]
    assert res.to_dict()["parse_failures"] == 5


def test_rerun_answers_from_the_cache(tmp_path):
    cfg = _cfg(tmp_path, "")
    with serve_judge("tuned") as (url, log):
        cfg = _cfg(tmp_path, url)
        first = judge_pairs(cfg, _rows(6))
        sent = len(log)
        second = judge_pairs(cfg, _rows(6))
    assert sent == 12 and len(log) == 12  # nothing sent the second time
    assert second.cache_hits == 12 and second.requests_sent == 0 and second.win_rate == first.win_rate


def test_parse_verdict_shapes():
    assert parse_verdict('{"winner": "b", "reason": "ok"}') == ("B", "ok")
    assert parse_verdict('Verdict: ```json\n{"winner": "tie"}\n```') == ("tie", "")
    assert parse_verdict('{"winner": "C"}') is None and parse_verdict("A is better") is None


def test_refused_judge_url_is_one_line_error(tmp_path):
    cfg = _cfg(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(TeacherError) as info:
        probe_judge(cfg)
    msg = str(info.value)
    assert "\n" not in msg and "judge" in msg and "compare.judge.base_url" in msg


def test_local_judge_warns_and_never_scores_garbage_as_a_loss(tmp_path, tiny_model_dir):
    from tailorkit.evaluate.judge import LOCAL_WARNING

    cfg = build_config({"compare": {"judge": {"model": str(tiny_model_dir), "max_tokens": 16,
                                              "cache": str(tmp_path / "j.sqlite")}}}, root=tmp_path)
    with pytest.warns(UserWarning, match="not a reliable judge"):
        res = judge_pairs(cfg, _rows(2))
    assert res.local and res.to_dict()["warning"] == LOCAL_WARNING
    # a random tiny model writes no JSON verdict: parse failures, left out, not losses
    assert res.parse_failures == 2 and res.losses == 0 and res.win_rate is None
    assert res.verdict == "insufficient evidence"


def test_budget_stops_judging_cleanly(tmp_path):
    with serve_judge("tuned") as (url, log):
        cfg = _cfg(tmp_path, url, budget_usd=0.002, concurrency=1,
                   prices={"judge": {"input": 1.0, "output": 1.0}})
        res = judge_pairs(cfg, _rows(10))
        # each request reserves ~(prompt + 200 max tokens) / 1M dollars: the budget covers a few rows only
        assert 0 < res.judged < 10 and res.errors == 10 - res.judged and res.losses == 0
        assert 2 * res.judged <= len(log) == res.requests_sent <= 2 * res.judged + 1
        assert all(r["outcome"] == "error" for r in res.rows[res.judged:])
        # resume: a rerun with room in the budget pays only for the requests not answered yet
        sent = len(log)
        again = judge_pairs(_cfg(tmp_path, url), _rows(10))
    assert again.judged == 10 and again.cache_hits == sent and len(log) == 20
