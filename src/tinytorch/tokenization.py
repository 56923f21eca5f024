"""Module 10 — Tokenization: text to integer ids and back.

A language model reads integers, so text must become a sequence of ids from a fixed
vocabulary, and every sequence of ids must become text again. Two tokenizers, two trade-offs:

**Characters** (``CharTokenizer``). The vocabulary is the set of characters of a training
text, sorted: 65 for tiny Shakespeare. Tiny and exact, but every character is one step of
the model, so a sequence of 256 ids covers only about 50 words.

**Byte-pair encoding** (``BPETokenizer``, as GPT-2). Start from the 256 byte values, so any
text at all can be encoded (UTF-8 turns every string into bytes, and every byte has an id).
Then repeat: find the most frequent pair of neighbouring ids in the training text, give the
pair a new id, and replace it everywhere. After k merges the vocabulary has 256 + k ids,
frequent words are one id each, and rare ones fall back to pieces or bytes. Encoding replays
the merges in the order they were learnt; decoding joins the bytes of each id.

Two rules make training fast and deterministic:

- the text is first cut into **chunks** (a word with the space before it, a run of digits, of
  punctuation, of spaces: ``PRETOKENIZE_PATTERN``, after GPT-2's), and pairs never cross a
  chunk boundary. Each distinct chunk is then counted once with its frequency: tiny
  Shakespeare has 1.1 million characters but about 25,000 distinct chunks;
- ties are broken explicitly: the pair with the **highest count** wins, and among equal
  counts the **smallest pair** of ids, compared as tuples ((32, 116) before (101, 32)).

The obviously right trainer (``learn_merges_naive``) recounts every pair of every chunk after
each merge. The fast one (``learn_merges``) counts once, then after each merge updates only
the counts of the chunks that contained the merged pair, and finds the best pair with a heap.
Both must produce exactly the same merges.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from tinytorch.tensor import Tensor

BYTE_VOCABULARY = 256
"""Ids 0..255 are the byte values; merge k (counting from 0) creates id 256 + k."""
PRETOKENIZE_PATTERN = re.compile(
    r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
)
"""GPT-2's chunking with the standard library's ``re``: English contractions, a run of
letters, of digits, or of other symbols (each with at most one space before it), and runs of
spaces. Every character of any text falls in exactly one chunk, so joining the chunks gives
the text back."""


def _checked_ids(name: str, ids, vocab_size: int) -> list:
    """Token ids as a list of Python ints, each in [0, vocab_size)."""
    array = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if array.size == 0:
        return []
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} got ids of dtype {array.dtype}: expected integer token ids")
    if array.ndim != 1:
        raise ValueError(f"{name} got ids of shape {array.shape}: expected one sequence (a 1-D list of ids)")
    outside = np.flatnonzero((array < 0) | (array >= vocab_size))
    if outside.size:
        position = int(outside[0])
        raise ValueError(
            f"{name} got id {int(array[position])} at position {position}: expected "
            f"0 <= id < {vocab_size} (the vocabulary size)"
        )
    return array.tolist()


# -- characters ------------------------------------------------------------------------------
class CharTokenizer:
    """One id per character of the training text, in sorted order (so ``fit`` on the same
    text always gives the same ids, whatever order the characters first appear in).

    A character the training text did not contain has no id: ``encode`` raises ``ValueError``
    naming the character and its position, rather than mapping it to a catch-all ``<unk>``
    that would silently lose text (``decode(encode(s)) == s`` always holds when it returns).
    """

    def __init__(self):
        self.vocabulary: list = []  # id -> character
        self._ids: dict = {}  # character -> id

    def fit(self, text: str) -> "CharTokenizer":
        """Build the vocabulary: the distinct characters of ``text``, sorted. Returns self."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"CharTokenizer.fit needs a non-empty str; got {text!r:.40}")
        # BEGIN SOLUTION
        self.vocabulary = sorted(set(text))
        self._ids = {character: index for index, character in enumerate(self.vocabulary)}
        # END SOLUTION
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def _check_fitted(self, method: str) -> None:
        if not self.vocabulary:
            raise RuntimeError(f"CharTokenizer.{method}: the tokenizer has no vocabulary yet; call fit(text) first")

    def _check_known(self, text: str) -> None:
        """Refuse characters outside the vocabulary, naming the first one and where it is."""
        unknown = set(text) - self._ids.keys()
        if unknown:
            position = min(text.index(character) for character in unknown)
            raise ValueError(
                f"CharTokenizer.encode: character {text[position]!r} at position {position} is not in "
                f"the vocabulary of {self.vocab_size} characters fitted on the training text"
            )

    def encode(self, text: str) -> list:
        """The id of each character of ``text``."""
        self._check_fitted("encode")
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode needs a str; got {type(text).__name__}")
        self._check_known(text)
        # BEGIN SOLUTION
        return [self._ids[character] for character in text]
        # END SOLUTION

    def encode_array(self, text: str) -> np.ndarray:
        """``encode(text)`` as an int64 array, the form a model's batches are cut from."""
        return np.array(self.encode(text), dtype=np.int64)

    def decode(self, ids) -> str:
        """The characters of the ids (a list, an array or an integer Tensor), joined."""
        self._check_fitted("decode")
        ids = _checked_ids("CharTokenizer.decode", ids, self.vocab_size)
        # BEGIN SOLUTION
        return "".join(self.vocabulary[index] for index in ids)
        # END SOLUTION

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# -- byte-pair encoding: the pieces ------------------------------------------------------------
def chunk_counts(text: str) -> Counter:
    """Each distinct chunk of ``text`` (``PRETOKENIZE_PATTERN``) as a tuple of its UTF-8 bytes,
    with the number of times it occurs. Training works on these, never on the raw text."""
    chunks = Counter(PRETOKENIZE_PATTERN.findall(text))  # count the strings first: far fewer to encode
    return Counter({tuple(chunk.encode("utf-8")): count for chunk, count in chunks.items()})


def count_pairs(words: dict) -> Counter:
    """Occurrences of every pair of neighbouring ids, over ``words`` (symbols -> frequency):
    a pair that occurs twice in a chunk seen 5 times counts 10."""
    # BEGIN SOLUTION
    pairs = Counter()
    for symbols, frequency in words.items():
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += frequency
    return pairs
    # END SOLUTION


def merge_pair(symbols: tuple, pair: tuple, new_id: int) -> tuple:
    """``symbols`` with every occurrence of ``pair`` replaced by ``new_id``, scanning left to
    right without overlaps: merging (7, 7) in (7, 7, 7) gives (new, 7)."""
    # BEGIN SOLUTION
    merged, index = [], 0
    while index < len(symbols):
        if index + 1 < len(symbols) and symbols[index] == pair[0] and symbols[index + 1] == pair[1]:
            merged.append(new_id)
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return tuple(merged)
    # END SOLUTION


def best_pair(pair_counts: dict):
    """The pair to merge next: the highest count, then the smallest pair; None if no pair is left."""
    # BEGIN SOLUTION
    candidates = [(count, pair) for pair, count in pair_counts.items() if count > 0]
    if not candidates:
        return None
    return min(candidates, key=lambda item: (-item[0], item[1]))[1]
    # END SOLUTION


def _check_merge_count(name: str, num_merges) -> None:
    if not isinstance(num_merges, (int, np.integer)) or isinstance(num_merges, bool) or num_merges < 0:
        raise ValueError(f"{name}: num_merges={num_merges!r}, expected an integer >= 0")


def learn_merges_naive(words: dict, num_merges: int) -> list:
    """Up to ``num_merges`` merges, the obviously right way: after each merge, recount every
    pair of every chunk from scratch. ``words`` maps byte tuples to frequencies (as
    ``chunk_counts`` gives). Stops early when no pair is left."""
    _check_merge_count("learn_merges_naive", num_merges)
    # BEGIN SOLUTION
    words, merges = dict(words), []
    for rank in range(num_merges):
        pair = best_pair(count_pairs(words))
        if pair is None:
            break
        new_id = BYTE_VOCABULARY + rank
        merged = Counter()
        for symbols, frequency in words.items():
            merged[merge_pair(symbols, pair, new_id)] += frequency
        words = merged
        merges.append(pair)
    return merges
    # END SOLUTION


def learn_merges(words: dict, num_merges: int) -> list:
    """The same merges as ``learn_merges_naive``, fast. Pairs are counted once. A merge only
    changes the chunks that contain its pair, so each of those (found through an index from
    pair to chunks) has its old pairs' counts taken away and its new pairs' counts added; a
    heap of (-count, pair) entries, pushed whenever a count changes and checked against the
    current count when popped, gives the best pair without scanning them all."""
    _check_merge_count("learn_merges", num_merges)
    # BEGIN SOLUTION
    symbols = [list(word) for word in words]
    frequencies = list(words.values())
    pair_counts, chunks_with = Counter(), {}
    for index, word in enumerate(symbols):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += frequencies[index]
            chunks_with.setdefault(pair, set()).add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < num_merges:
        while heap and pair_counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)  # an entry pushed before its pair's count last changed
        if not heap:
            break
        pair = heapq.heappop(heap)[1]
        new_id = BYTE_VOCABULARY + len(merges)
        changed = set()
        for index in chunks_with.pop(pair):
            word, frequency = symbols[index], frequencies[index]
            merged = list(merge_pair(tuple(word), pair, new_id))
            if len(merged) == len(word):
                continue  # the chunk lost this pair to an earlier merge
            for old in zip(word, word[1:]):
                pair_counts[old] -= frequency
                changed.add(old)
            for new in zip(merged, merged[1:]):
                pair_counts[new] += frequency
                chunks_with.setdefault(new, set()).add(index)
                changed.add(new)
            symbols[index] = merged
        pair_counts.pop(pair, None)
        changed.discard(pair)
        for other in changed:
            if pair_counts[other] > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
        merges.append(pair)
    return merges
    # END SOLUTION


# -- byte-pair encoding: the tokenizer -----------------------------------------------------------
class BPETokenizer:
    """Byte-level BPE with a vocabulary of ``vocab_size`` ids: the 256 bytes plus
    ``vocab_size - 256`` merges learnt by ``train``.

    ``decode(encode(s)) == s`` for every string ``s`` that UTF-8 can encode (any text without
    lone surrogates), even with characters the training text never contained: they fall back
    to their bytes. ``decode`` of ids that cut a character's bytes apart (the first half of
    "é") shows U+FFFD there, as GPT-2's tokenizer does, instead of failing.
    """

    FORMAT = "tinytorch byte-level BPE"
    VERSION = 1

    def __init__(self, vocab_size: int = BYTE_VOCABULARY):
        if not isinstance(vocab_size, (int, np.integer)) or isinstance(vocab_size, bool) or vocab_size < BYTE_VOCABULARY:
            raise ValueError(
                f"BPETokenizer(vocab_size={vocab_size!r}): expected an integer >= {BYTE_VOCABULARY} "
                f"(the {BYTE_VOCABULARY} byte values, plus one id per merge)"
            )
        self.requested_vocab_size = int(vocab_size)
        self.merges: list = []  # merge k turns the pair merges[k] into id 256 + k
        self._build_tables()

    def _build_tables(self) -> None:
        """The bytes of every id, and the rank of every merge (given: both follow from merges)."""
        self.token_bytes = [bytes([value]) for value in range(BYTE_VOCABULARY)]
        for left, right in self.merges:
            self.token_bytes.append(self.token_bytes[left] + self.token_bytes[right])
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._cache = {}  # chunk -> ids; a text repeats its chunks

    @property
    def vocab_size(self) -> int:
        """256 + the number of merges: less than requested if training ran out of pairs."""
        return BYTE_VOCABULARY + len(self.merges)

    def train(self, text: str) -> "BPETokenizer":
        """Learn up to ``requested_vocab_size - 256`` merges from ``text`` (``learn_merges``).
        Training again replaces the merges. Returns self."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train needs a str; got {type(text).__name__}")
        self.merges = [tuple(pair) for pair in learn_merges(chunk_counts(text), self.requested_vocab_size - BYTE_VOCABULARY)]
        self._build_tables()
        return self

    def _encode_chunk(self, chunk: bytes) -> list:
        """Replay the merges on one chunk: merge the pair of lowest rank present, again and
        again, until no pair of the chunk was ever merged."""
        # BEGIN SOLUTION
        symbols = tuple(chunk)
        while len(symbols) > 1:
            pair = min(zip(symbols, symbols[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            symbols = merge_pair(symbols, pair, BYTE_VOCABULARY + self.ranks[pair])
        return list(symbols)
        # END SOLUTION

    def encode(self, text: str) -> list:
        """The ids of ``text``: its chunks, each as bytes with the merges replayed."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode needs a str; got {type(text).__name__}")
        ids = []
        for chunk in PRETOKENIZE_PATTERN.findall(text):
            if chunk not in self._cache:
                try:
                    data = chunk.encode("utf-8")
                except UnicodeEncodeError:
                    position = next(i for i, character in enumerate(text) if "\ud800" <= character <= "\udfff")
                    raise ValueError(
                        f"BPETokenizer.encode: character {text[position]!r} at position {position} is a "
                        "lone surrogate, which UTF-8 cannot encode"
                    ) from None
                self._cache[chunk] = self._encode_chunk(data)
            ids.extend(self._cache[chunk])
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """``encode(text)`` as an int64 array."""
        return np.array(self.encode(text), dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of the ids: their bytes joined, read as UTF-8."""
        ids = _checked_ids("BPETokenizer.decode", ids, self.vocab_size)
        # BEGIN SOLUTION
        return b"".join(self.token_bytes[index] for index in ids).decode("utf-8", errors="replace")
        # END SOLUTION

    # -- saving and loading the merges (given) ---------------------------------------------------
    def save(self, path) -> None:
        """Write the merges as JSON: the merges are the whole tokenizer."""
        document = {"format": self.FORMAT, "version": self.VERSION, "vocab_size": self.vocab_size,
                    "pattern": PRETOKENIZE_PATTERN.pattern, "merges": [list(pair) for pair in self.merges]}
        Path(path).write_text(json.dumps(document), encoding="utf-8")

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        """A tokenizer from ``save``'s JSON, checked: merge k may only use ids below 256 + k."""
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != cls.FORMAT or document.get("version") != cls.VERSION:
            raise ValueError(f"{path} is not a {cls.FORMAT} file of version {cls.VERSION}")
        if document.get("pattern") != PRETOKENIZE_PATTERN.pattern:
            raise ValueError(f"{path} was saved with another chunking pattern: its ids would not match")
        merges = document.get("merges")
        if not isinstance(merges, list) or document.get("vocab_size") != BYTE_VOCABULARY + len(merges):
            raise ValueError(f"{path}: 'vocab_size' must be 256 + the number of merges")
        for rank, pair in enumerate(merges):
            known = BYTE_VOCABULARY + rank
            if not (isinstance(pair, list) and len(pair) == 2 and all(type(i) is int and 0 <= i < known for i in pair)):
                raise ValueError(f"{path}: merge {rank} is {pair!r}; expected two ids below {known}")
        tokenizer = cls(document["vocab_size"])
        tokenizer.merges = [tuple(pair) for pair in merges]
        tokenizer._build_tables()
        return tokenizer

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


__all__ = [
    "BPETokenizer", "CharTokenizer", "PRETOKENIZE_PATTERN", "best_pair", "chunk_counts", "count_pairs",
    "learn_merges", "learn_merges_naive", "merge_pair",
]
