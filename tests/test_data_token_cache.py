"""Token counts kept between inspect and prepare: the same numbers, fewer renders, misses recounted."""
from __future__ import annotations

from tailorkit.data.example import Example
from tailorkit.data.lengths import token_lengths
from tailorkit.data.token_cache import TokenCountCache, tokenizer_fingerprint
from tailorkit.models import load_tokenizer


class CountingTokenizer:
    """Forwards to a real tokenizer and counts the conversations it renders."""

    def __init__(self, tok) -> None:
        self._tok, self.rendered = tok, 0

    def apply_chat_template(self, conversations, **kw):
        self.rendered += len(conversations)
        return self._tok.apply_chat_template(conversations, **kw)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def rows(n: int) -> list[Example]:
    return [Example.simple(f"request number {i} about a cat", f"a cat, painted, number {i} --ar 3:2") for i in range(n)]


def test_cached_counts_equal_fresh_counts_and_skip_rendering(tiny_model_dir, tmp_path):
    tok = CountingTokenizer(load_tokenizer(str(tiny_model_dir)))
    examples = rows(30)
    fresh = token_lengths(examples, tok, 256)
    assert tok.rendered == 60  # prompt + whole per row
    first = token_lengths(examples, tok, 256, tmp_path)
    assert tok.rendered == 120 and list(tmp_path.glob("*.npz"))
    second = token_lengths(examples, tok, 256, tmp_path)
    assert tok.rendered == 120  # every row came from the cache
    assert fresh.to_dict() == first.to_dict() == second.to_dict()


def test_an_edited_row_is_recounted_and_the_file_keeps_only_current_rows(tiny_model_dir, tmp_path):
    tok = CountingTokenizer(load_tokenizer(str(tiny_model_dir)))
    examples = rows(10)
    token_lengths(examples, tok, 256, tmp_path)
    edited = examples[:9] + [Example.simple("a much longer request " * 5, "an answer")]
    report = token_lengths(edited, tok, 256, tmp_path)
    assert tok.rendered == 20 + 2
    assert report.to_dict() == token_lengths(edited, load_tokenizer(str(tiny_model_dir)), 256).to_dict()
    assert len(TokenCountCache(tmp_path, tok).known) == 10


def test_another_template_does_not_reuse_the_counts(tiny_model_dir, tmp_path):
    plain = load_tokenizer(str(tiny_model_dir))
    other = load_tokenizer(str(tiny_model_dir), "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}")
    assert tokenizer_fingerprint(plain) != tokenizer_fingerprint(other)
    examples = rows(5)
    a = token_lengths(examples, plain, 256, tmp_path)
    b = token_lengths(examples, other, 256, tmp_path)
    assert a.total != b.total
    assert b.to_dict() == token_lengths(examples, other, 256).to_dict()


def test_a_corrupt_cache_file_is_recounted_not_trusted(tiny_model_dir, tmp_path):
    tok = load_tokenizer(str(tiny_model_dir))
    examples = rows(5)
    good = token_lengths(examples, tok, 256, tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a numpy file")
    assert token_lengths(examples, tok, 256, tmp_path).to_dict() == good.to_dict()
    assert len(TokenCountCache(tmp_path, tok).known) == 5  # rewritten


def test_an_unwritable_cache_folder_is_ignored(tiny_model_dir, tmp_path):
    tok = load_tokenizer(str(tiny_model_dir))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    report = token_lengths(rows(3), tok, 256, blocker / "cache")  # its parent is a file
    assert report.to_dict() == token_lengths(rows(3), tok, 256).to_dict()
