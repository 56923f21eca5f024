"""Integration of modules 10-14: text in, a trained GPT, text out.

Passing this group unlocks milestone 4 (TinyGPT). What it proves: characters of real text
(a slice of the bundled tiny Shakespeare) become ids (``CharTokenizer``), ids become vectors
(token and learned position embeddings), causal multi-head attention and MLPs in pre-norm
blocks turn them into next-character scores (``GPT``), Adam trains the whole stack until the
held-out loss is far below what counting characters alone can reach (their unigram entropy,
computed here from the held-out text), and the trained model writes text, greedily, with the
same tokens with and without the KV cache. Around that: the whole model is causal to the
bit, its gradients match finite differences in float64, BPE ids run through the same model,
and the cache holds exactly the bytes of its formula.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.autograd import no_grad
from tinytorch.datasets import load_shakespeare
from tinytorch.generation import KVCache, generate
from tinytorch.optimizers import Adam
from tinytorch.tokenization import BPETokenizer, CharTokenizer
from tinytorch.transformers import GPT, next_token_loss

pytestmark = pytest.mark.integration("10_14")

CONTEXT = 32
TRAIN_CHARACTERS = 200_000
HELD_OUT_CHARACTERS = 20_000
STEPS, BATCH = 150, 32


@pytest.fixture(scope="module")
def corpus():
    """The tokenizer (fitted on the whole training split: all 65 characters) and the ids of a
    training slice and of the start of the held-out split."""
    train_text = load_shakespeare("train")
    tokenizer = CharTokenizer().fit(train_text)
    train_ids = tokenizer.encode_array(train_text[:TRAIN_CHARACTERS])
    held_out_ids = tokenizer.encode_array(load_shakespeare("val")[:HELD_OUT_CHARACTERS])
    return tokenizer, train_ids, held_out_ids


def windows(ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets (len(starts), CONTEXT) cut at ``starts``."""
    stacked = np.stack([ids[start : start + CONTEXT + 1] for start in starts])
    return stacked[:, :-1], stacked[:, 1:]


def unigram_entropy(ids: np.ndarray) -> float:
    """Entropy in nats of the characters' own frequencies: the loss of the best model that
    ignores context, measured on the very text it is scored on (so an optimistic bound)."""
    frequencies = np.bincount(ids) / len(ids)
    frequencies = frequencies[frequencies > 0]
    return float(-(frequencies * np.log(frequencies)).sum())


def held_out_loss(model, held_out_ids: np.ndarray) -> float:
    starts = np.arange(0, len(held_out_ids) - CONTEXT - 1, 157)  # 127 windows spread over the text
    inputs, targets = windows(held_out_ids, starts)
    model.eval()
    with no_grad():
        loss = next_token_loss(model(inputs), targets).item()
    model.train()
    return loss


@pytest.fixture(scope="module")
def trained(corpus):
    tokenizer, train_ids, held_out_ids = corpus
    tinytorch.manual_seed(0)
    model = GPT(tokenizer.vocab_size, CONTEXT, dim=48, heads=4, layers=2)
    optimizer = Adam(model.parameters(), lr=3e-3)
    batches = np.random.default_rng(0)
    before = held_out_loss(model, held_out_ids)
    first_embedding = model.token.weight.data.copy()
    for _ in range(STEPS):
        inputs, targets = windows(train_ids, batches.integers(0, len(train_ids) - CONTEXT - 1, BATCH))
        loss = next_token_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, before, held_out_loss(model, held_out_ids), first_embedding


def test_a_char_gpt_learns_shakespeare_far_below_the_unigram_entropy(corpus, trained):
    tokenizer, _, held_out_ids = corpus
    model, before, after, first_embedding = trained
    assert tokenizer.vocab_size == 65
    # 65 embeddings + 32 positions, 2 blocks of 12 d^2 + 13 d, the final norm, the head (no bias)
    d = 48
    assert model.parameter_count() == 65 * d + CONTEXT * d + 2 * (12 * d * d + 13 * d) + 2 * d + d * 65
    entropy = unigram_entropy(held_out_ids)
    assert 3.2 < entropy < 3.45, entropy  # measured: 3.33 nats for these 20,000 characters
    assert abs(before - np.log(65)) < 0.1, "an untrained GPT-2 init is close to uniform"
    # measured: 2.52 after 150 steps; a bigram table of the training slice gets 2.65
    assert after < entropy - 0.6, (after, entropy)
    moved = np.abs(model.token.weight.data - first_embedding).mean() / np.abs(first_embedding).mean()
    assert moved > 0.5, "the token embeddings learn, not only the head"


def test_greedy_generation_is_the_same_with_and_without_the_cache(corpus, trained):
    tokenizer, _, _ = corpus
    model, _, _, _ = trained
    prompt = tokenizer.encode_array("ROMEO:\nWhat ")
    # 12 + 40 = 52 > CONTEXT: the cached run also crosses the point where the window is cropped
    cached = generate(model, prompt, 40, temperature=0, use_cache=True)
    uncached = generate(model, prompt, 40, temperature=0, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    assert cached.shape == (52,) and cached.dtype == np.int64
    np.testing.assert_array_equal(cached[:12], prompt)
    # greedy means argmax: recompute each of the first new tokens from a plain forward
    with no_grad():
        for position in range(12, 12 + CONTEXT - 12):
            logits = model(cached[None, :position]).data[0, -1]
            assert cached[position] == int(np.argmax(logits)), position
    text = tokenizer.decode(cached)
    assert text.startswith("ROMEO:\nWhat ") and len(text) == 52
    letters = sum(character.isalpha() or character.isspace() for character in text[12:])
    assert letters >= 32, f"a trained model writes mostly letters and spaces: {text!r}"
    # sampling with a seed is repeatable, and also identical with and without the cache
    np.testing.assert_array_equal(
        generate(model, prompt, 30, temperature=0.8, top_k=10, seed=3, use_cache=True),
        generate(model, prompt, 30, temperature=0.8, top_k=10, seed=3, use_cache=False),
    )
    assert model.training, "generate gives the model its training mode back"


def test_the_cache_holds_the_bytes_of_its_formula_and_the_prefill_logits(trained):
    model, _, _, _ = trained
    cache = KVCache.for_model(model, batch=3)
    # 2 (keys, values) x layers x batch x heads x context x head_dim x 4 bytes
    assert cache.nbytes == 2 * 2 * 3 * 4 * CONTEXT * 12 * 4
    ids = np.random.default_rng(5).integers(0, 65, (3, 20))
    model.eval()
    with no_grad():
        full = model(ids).data
        prefill = model(ids[:, :15], kv_cache=cache).data
        steps = [model(ids[:, t : t + 1], kv_cache=cache).data[:, 0] for t in range(15, 20)]
    model.train()
    assert cache.length == 20
    np.testing.assert_allclose(prefill, full[:, :15], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack(steps, axis=1), full[:, 15:], rtol=1e-4, atol=1e-5)


def test_the_whole_model_never_reads_the_future(trained):
    model, _, _, _ = trained
    ids = np.random.default_rng(1).integers(0, 65, (2, CONTEXT))
    changed = ids.copy()
    changed[:, 20:] = (changed[:, 20:] + 7) % 65
    with no_grad():
        original, altered = model(ids).data, model(changed).data
    np.testing.assert_array_equal(original[:, :20], altered[:, :20])  # to the bit
    assert np.abs(original[:, 20:] - altered[:, 20:]).max() > 1e-3


def tiny_gpt_in_float64() -> GPT:
    tinytorch.manual_seed(2)
    model = GPT(vocab_size=7, context_length=5, dim=8, heads=2, layers=2)
    for weights in model.parameters():
        weights.data = weights.data.astype(np.float64) * 10  # larger weights: attention not uniform
    return model


def test_whole_gpt_gradients_match_finite_differences_along_random_directions():
    model = tiny_gpt_in_float64()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (2, 5))
    inputs, targets = ids[:, :4], ids[:, 1:]
    loss = next_token_loss(model(inputs), targets)
    loss.backward()
    parameters = model.parameters()
    for trial in range(3):
        directions = [rng.standard_normal(p.shape) for p in parameters]
        analytic = sum(float((p.grad * d).sum()) for p, d in zip(parameters, directions))
        originals = [p.data.copy() for p in parameters]
        values = []
        for sign in (1, -1):
            for p, original, d in zip(parameters, originals, directions):
                p.data = original + sign * 1e-6 * d
            values.append(next_token_loss(model(inputs), targets).item())
        for p, original in zip(parameters, originals):
            p.data = original
        numeric = (values[0] - values[1]) / 2e-6
        assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (trial, analytic, numeric)
        assert abs(numeric) > 1e-3, "a direction the loss depends on"


def test_bpe_ids_run_through_the_same_pipeline():
    text = load_shakespeare("train")[:20_000]
    tokenizer = BPETokenizer(vocab_size=300).train(text)
    assert tokenizer.vocab_size == 300
    ids = tokenizer.encode_array(text[:2_000])
    assert tokenizer.decode(ids) == text[:2_000]
    assert len(ids) < 0.75 * 2_000, "44 merges already pack several characters per id"
    tinytorch.manual_seed(0)
    model = GPT(tokenizer.vocab_size, 16, dim=16, heads=2, layers=1)
    inputs, targets = ids[None, :16], ids[None, 1:17]
    logits = model(inputs)
    assert logits.shape == (1, 16, 300)
    next_token_loss(logits, targets).backward()
    rows_with_gradient = np.flatnonzero(np.abs(model.token.weight.grad).sum(axis=1))
    np.testing.assert_array_equal(rows_with_gradient, np.unique(inputs))  # only the ids read
    out = generate(model, inputs[0], 20, temperature=0, use_cache=True)
    np.testing.assert_array_equal(out, generate(model, inputs[0], 20, temperature=0, use_cache=False))
    assert isinstance(tokenizer.decode(out), str)
