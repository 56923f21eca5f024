"""Unit tests of module 10 (tokenization): characters and byte-level BPE.

Exact ids and merges on small texts worked by hand (the tie-breaking rule included), round
trips (a hypothesis property over arbitrary Unicode text), the naive and the incremental
trainer agreeing exactly, determinism, saving and loading the merges, and error messages.
One test trains on a slice of tiny Shakespeare.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch import Tensor
from tinytorch.datasets import load_shakespeare
from tinytorch.tokenization import (
    PRETOKENIZE_PATTERN,
    BPETokenizer,
    CharTokenizer,
    best_pair,
    chunk_counts,
    count_pairs,
    learn_merges,
    learn_merges_naive,
    merge_pair,
)

pytestmark = pytest.mark.module("tokenization")

A, B, C, D = b"abcd"  # 97, 98, 99, 100
CLASSIC = "aaabdaaabac"
"""The classic BPE example (Wikipedia's): one chunk, merged down to a single id."""
CLASSIC_MERGES = [(A, A), (A, B), (256, 257), (A, C), (D, 258), (258, 260), (261, 259)]
"""Worked by hand. Pairs of aaabdaaabac: aa 4 (overlapping, twice per aaab), ab 2, the rest 1:
merge aa -> 256, giving 256 a b d 256 a b a c. Now (256, a) and (a, b) both occur twice: the
smaller pair, (97, 98), wins -> 257. Then (256, 257) twice -> 258, giving 258 d 258 a c. Four
pairs occur once each: the smallest, (97, 99), -> 259. Then (100, 258) -> 260,
(258, 260) -> 261, (261, 259) -> 262, and one id is left."""
PARAGRAPH = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was "
    "the season of Light, it was the season of Darkness... 1859! Naïve café, déjà vu; 東京 ✓"
)


# -- characters --------------------------------------------------------------------------------
def test_char_vocabulary_is_the_sorted_characters():
    tokenizer = CharTokenizer().fit("hello world")
    assert tokenizer.vocabulary == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tokenizer.vocab_size == 8
    assert tokenizer.encode("hello") == [3, 2, 4, 4, 5]
    assert tokenizer.encode("") == []
    assert tokenizer.decode([7, 5, 6, 4, 1]) == "world"
    assert repr(tokenizer) == "CharTokenizer(vocab_size=8)"


def test_char_ids_do_not_depend_on_the_order_characters_appear_in():
    assert CharTokenizer().fit("cab").encode("abc") == CharTokenizer().fit("bca").encode("abc") == [0, 1, 2]


def test_char_decode_takes_lists_arrays_and_integer_tensors():
    tokenizer = CharTokenizer().fit("abc")
    for ids in ([2, 0], np.array([2, 0], dtype=np.int32), Tensor(np.array([2, 0]))):
        assert tokenizer.decode(ids) == "ca"
    assert tokenizer.encode_array("cab").tolist() == [2, 0, 1]
    assert tokenizer.encode_array("cab").dtype == np.int64


def test_char_tokenizer_on_tiny_shakespeare():
    tokenizer = CharTokenizer().fit(load_shakespeare("train"))
    assert tokenizer.vocab_size == 65
    assert tokenizer.vocabulary[:3] == ["\n", " ", "!"] and tokenizer.vocabulary[-1] == "z"
    val = load_shakespeare("val")
    assert tokenizer.decode(tokenizer.encode(val)) == val
    assert tokenizer.encode("First") == [18, 47, 56, 57, 58]


def test_an_unknown_character_is_named_with_its_position():
    tokenizer = CharTokenizer().fit("hello world")
    with pytest.raises(ValueError, match=r"^CharTokenizer\.encode: character 'z' at position 6 is not in the "
                                         r"vocabulary of 8 characters"):
        tokenizer.encode("hello zoo!")


def test_char_tokenizer_errors():
    with pytest.raises(RuntimeError, match=r"CharTokenizer\.encode: the tokenizer has no vocabulary yet; call fit"):
        CharTokenizer().encode("a")
    with pytest.raises(ValueError, match=r"CharTokenizer\.fit needs a non-empty str"):
        CharTokenizer().fit("")
    tokenizer = CharTokenizer().fit("abc")
    with pytest.raises(ValueError, match=r"CharTokenizer\.decode got id 3 at position 1: expected 0 <= id < 3"):
        tokenizer.decode([0, 3])
    with pytest.raises(ValueError, match=r"got id -1 at position 0"):
        tokenizer.decode([-1])
    with pytest.raises(TypeError, match=r"CharTokenizer\.decode got ids of dtype float64: expected integer"):
        tokenizer.decode([1.0])
    with pytest.raises(TypeError, match=r"CharTokenizer\.encode needs a str; got list"):
        tokenizer.encode(["a"])


# -- the pieces of BPE -------------------------------------------------------------------------
def test_merge_pair_scans_left_to_right_without_overlaps():
    assert merge_pair((7, 7, 7), (7, 7), 256) == (256, 7)
    assert merge_pair((7, 7, 7, 7), (7, 7), 256) == (256, 256)
    assert merge_pair((1, 2, 1, 2, 3), (1, 2), 9) == (9, 9, 3)
    assert merge_pair((2, 1), (1, 2), 9) == (2, 1)
    assert merge_pair((5,), (5, 5), 9) == (5,)


def test_count_pairs_weights_each_chunk_by_its_frequency():
    assert count_pairs({(1, 2, 1, 2): 5, (2, 1): 1, (3,): 7}) == {(1, 2): 10, (2, 1): 6}
    assert count_pairs({(7, 7, 7): 2}) == {(7, 7): 4}  # overlapping occurrences both count


def test_best_pair_takes_the_highest_count_then_the_smallest_pair():
    assert best_pair({(5, 6): 3, (2, 9): 3, (1, 1): 2}) == (2, 9)
    assert best_pair({(5, 6): 4, (2, 9): 3}) == (5, 6)
    assert best_pair({(2, 9): 3, (2, 8): 3, (3, 0): 3}) == (2, 8)
    assert best_pair({}) is None and best_pair({(1, 2): 0}) is None


def test_the_text_is_cut_into_chunks_that_join_back_into_it():
    text = "I'll don't  go!!! 42 snake_case\n\n  x"
    chunks = PRETOKENIZE_PATTERN.findall(text)
    assert chunks == ["I", "'ll", " don", "'t", " ", " go", "!!!", " 42", " snake", "_", "case", "\n\n ", " x"]
    assert "".join(chunks) == text


def test_chunk_counts_are_byte_tuples_with_frequencies():
    assert chunk_counts("the cat the") == {tuple(b"the"): 1, tuple(b" cat"): 1, tuple(b" the"): 1}
    assert chunk_counts(" é é") == {(32, 0xC3, 0xA9): 2}
    assert chunk_counts("") == {}


# -- training ----------------------------------------------------------------------------------
def test_the_classic_example_merges_as_worked_by_hand():
    tokenizer = BPETokenizer(300).train(CLASSIC)
    assert tokenizer.merges == CLASSIC_MERGES
    assert tokenizer.vocab_size == 263  # the text ran out of pairs before 300
    assert tokenizer.encode(CLASSIC) == [262]
    assert tokenizer.encode("aaab") == [258]
    assert tokenizer.encode("abc") == [257, C]
    assert tokenizer.decode([258, 260]) == "aaabdaaab"


@pytest.mark.parametrize("learn", [learn_merges, learn_merges_naive])
def test_both_trainers_break_ties_by_the_smallest_pair(learn):
    """'ab cd': the pairs (97, 98), (32, 99) and (99, 100) occur once each; space is 32."""
    assert learn(chunk_counts("ab cd"), 3) == [(32, C), (A, B), (256, D)]
    assert learn(chunk_counts(CLASSIC), 20) == CLASSIC_MERGES


@pytest.mark.parametrize("learn", [learn_merges, learn_merges_naive])
def test_training_does_not_depend_on_the_order_of_the_chunks(learn):
    words = chunk_counts(PARAGRAPH)
    backwards = dict(reversed(list(words.items())))
    assert learn(words, 40) == learn(backwards, 40)


def test_the_incremental_trainer_agrees_exactly_with_the_naive_one():
    words = chunk_counts(PARAGRAPH * 3 + CLASSIC)
    naive, fast = learn_merges_naive(words, 80), learn_merges(words, 80)
    assert fast == naive and len(naive) == 80
    from_naive, from_fast = BPETokenizer(336), BPETokenizer(336)
    from_naive.merges = naive
    from_naive._build_tables()
    from_fast.train(PARAGRAPH * 3 + CLASSIC)
    assert from_fast.merges == naive
    assert from_fast.encode(PARAGRAPH) == from_naive.encode(PARAGRAPH)


@given(st.text(alphabet="ab c\n", max_size=40), st.integers(0, 30))
def test_the_trainers_agree_on_any_small_text(text, num_merges):
    """Few letters make many ties and overlapping pairs (aaa), where the incremental counts
    are easiest to get wrong."""
    words = chunk_counts(text)
    assert learn_merges(words, num_merges) == learn_merges_naive(words, num_merges)


def test_encoding_the_training_text_replays_its_merges():
    tokenizer = BPETokenizer(320).train(PARAGRAPH)
    ids = tokenizer.encode(PARAGRAPH)
    assert tokenizer.decode(ids) == PARAGRAPH
    assert (len(ids), len(PARAGRAPH.encode("utf-8"))) == (108, 273)
    assert tokenizer.vocab_size == 320 and max(ids) < 320
    # each chunk is encoded on its own, and the frequent words have become one id each
    assert tokenizer.encode(" it was the") == tokenizer.encode(" it") + tokenizer.encode(" was") + tokenizer.encode(" the")
    assert len(tokenizer.encode(" it was the")) == 3


def test_training_a_tokenizer_on_a_slice_of_tiny_shakespeare():
    """20,000 characters, 44 merges: the fast and naive trainers agree, and the first merges are
    the pairs any English text starts with: ' t', 'he', 'ou', ' a', then ' t' + 'he'."""
    text = load_shakespeare("train")[:20_000]
    tokenizer = BPETokenizer(300).train(text)
    assert tokenizer.merges == learn_merges_naive(chunk_counts(text), 44)
    assert [tokenizer.token_bytes[i] for i in range(256, 261)] == [b" t", b"he", b"ou", b" a", b" the"]
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert len(ids) == 14_261  # 1.40 characters per id, up from 1 per byte id


# -- round trips and decoding ---------------------------------------------------------------------
@lru_cache(maxsize=None)
def trained() -> BPETokenizer:
    """A tokenizer with 74 merges of PARAGRAPH (made on first use, so that an unfinished
    module fails its tests one by one instead of failing to import this file)."""
    return BPETokenizer(330).train(PARAGRAPH)


@given(st.text())
def test_decode_inverts_encode_for_any_unicode_text(text):
    assert trained().decode(trained().encode(text)) == text
    assert BPETokenizer().decode(BPETokenizer().encode(text)) == text


def test_bytes_only_tokenizer_gives_the_utf8_bytes():
    assert BPETokenizer().encode("é!") == [0xC3, 0xA9, 0x21]
    assert BPETokenizer().vocab_size == 256


def test_decoding_half_a_character_shows_the_replacement_character():
    assert BPETokenizer().decode([0xC3]) == "\ufffd"
    assert BPETokenizer().decode([0x68, 0xC3, 0x69]) == "h\ufffdi"


def test_a_lone_surrogate_is_named():
    with pytest.raises(ValueError, match=r"character '\\ud800' at position 3 is a lone surrogate"):
        trained().encode("abc\ud800")


def test_bpe_errors():
    with pytest.raises(ValueError, match=r"BPETokenizer\(vocab_size=100\): expected an integer >= 256"):
        BPETokenizer(100)
    with pytest.raises(ValueError, match=r"BPETokenizer\.decode got id 330 at position 2: expected 0 <= id < 330"):
        trained().decode([1, 2, 330])
    with pytest.raises(TypeError, match=r"BPETokenizer\.train needs a str; got bytes"):
        BPETokenizer(300).train(b"abc")
    with pytest.raises(ValueError, match=r"learn_merges: num_merges=-1, expected an integer >= 0"):
        learn_merges({}, -1)


def test_training_again_replaces_the_merges():
    tokenizer = BPETokenizer(300).train("zzzz")
    assert tokenizer.merges == [(122, 122), (256, 256)]
    tokenizer.train(CLASSIC)
    assert tokenizer.merges == CLASSIC_MERGES and tokenizer.encode("zz") == [122, 122]


# -- saving and loading ----------------------------------------------------------------------------
def test_saved_merges_load_into_the_same_tokenizer(tmp_path):
    path = tmp_path / "bpe.json"
    trained().save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.merges == trained().merges and loaded.vocab_size == 330
    assert loaded.encode(PARAGRAPH) == trained().encode(PARAGRAPH)
    assert json.loads(path.read_text())["merges"][0] == list(trained().merges[0])


def test_loading_refuses_a_damaged_file(tmp_path):
    path = tmp_path / "bpe.json"
    BPETokenizer(300).train(CLASSIC).save(path)
    document = json.loads(path.read_text())
    document["merges"][1] = [97, 258]  # merge 1 can only use ids below 257
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"merge 1 is \[97, 258\]; expected two ids below 257"):
        BPETokenizer.load(path)
    path.write_text(json.dumps({"format": "something else", "version": 1}))
    with pytest.raises(ValueError, match=r"is not a tinytorch byte-level BPE file of version 1"):
        BPETokenizer.load(path)
