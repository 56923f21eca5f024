"""Unit tests of module 14 (generation): sampling and the KV cache.

Cached and uncached generation give the same tokens and (step by step) the same logits; the
cache holds exactly the keys a full forward pass makes, at the right positions, in the bytes
its formula says; past the context length both crop the same way; sampling follows
softmax(logits / temperature), top-k keeps k tokens, a seed repeats a sample.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.autograd import is_grad_enabled, no_grad
from tinytorch.generation import KVCache, LayerKVCache, generate, last_logits, pick_next_token
from tinytorch.tensor import Tensor
from tinytorch.transformers import GPT

pytestmark = pytest.mark.module("generation")


def small_gpt(seed=0, vocab=23, context=16, dim=16, heads=4, layers=2):
    tinytorch.manual_seed(seed)
    model = GPT(vocab, context, dim, heads, layers)
    rng = np.random.default_rng(seed)
    for parameter in model.parameters():  # larger weights than GPT-2's init: sharper, varied logits
        parameter.data += rng.normal(0.0, 0.3, parameter.shape).astype(np.float32)
    return model


PROMPT = np.array([3, 17, 5, 5, 9])


# -- cached against uncached -------------------------------------------------------------------------
def test_cached_and_uncached_greedy_generation_give_the_same_tokens():
    model = small_gpt()
    cached = generate(model, PROMPT, 10, temperature=0)
    uncached = generate(model, PROMPT, 10, temperature=0, use_cache=False)
    assert cached.shape == (15,) and cached.dtype == np.int64
    assert np.array_equal(cached[:5], PROMPT)
    assert np.array_equal(cached, uncached)
    assert len(set(cached[5:].tolist())) > 1  # the model does not just repeat one token


def test_greedy_is_the_argmax_of_a_full_forward_pass_at_every_step():
    model = small_gpt(1)
    ids = PROMPT.copy()
    with no_grad():
        for _ in range(6):
            ids = np.append(ids, np.argmax(model(ids[None]).data[0, -1]))
    assert np.array_equal(generate(model, PROMPT, 6, temperature=0), ids)


def test_each_cached_step_gives_the_logits_of_the_full_prefix_within_1e_5():
    model = small_gpt(2)
    tokens = np.random.default_rng(3).integers(0, 23, (2, 12))
    with no_grad():
        cache = KVCache.for_model(model, batch=2)
        logits = last_logits(model, tokens[:, :4], cache)
        for end in range(4, 12):
            full = model(tokens[:, :end]).data[:, -1]
            assert np.abs(logits - full).max() < 1e-5, end
            assert cache.length == end
            logits = last_logits(model, tokens[:, end:end + 1], cache)


def test_the_cache_holds_the_keys_of_a_full_pass_at_the_right_positions():
    """Token by token or all at once, the cache ends up with the same keys and values: each
    cached step used its own position's vector (a wrong position would change layer 0's keys)."""
    model = small_gpt(4)
    tokens = np.random.default_rng(5).integers(0, 23, (1, 9))
    with no_grad():
        stepwise, at_once = KVCache.for_model(model, 1), KVCache.for_model(model, 1)
        model(tokens[:, :3], kv_cache=stepwise)
        for position in range(3, 9):
            model(tokens[:, position:position + 1], kv_cache=stepwise)
        model(tokens, kv_cache=at_once)
    for mine, full in zip(stepwise.layers, at_once.layers):
        assert mine.length == full.length == 9
        assert np.allclose(mine.keys[:, :, :9], full.keys[:, :, :9], rtol=0, atol=1e-5)
        assert np.allclose(mine.values[:, :, :9], full.values[:, :, :9], rtol=0, atol=1e-5)
        assert np.all(mine.keys[:, :, 9:] == 0)


def test_a_step_at_the_wrong_position_is_detected():
    """The control of the test above: position 0's vector for every step changes the keys."""
    model = small_gpt(4)
    tokens = np.random.default_rng(5).integers(0, 23, (1, 4))
    with no_grad():
        right, wrong = KVCache.for_model(model, 1), KVCache.for_model(model, 1)
        model(tokens, kv_cache=right)
        for position in range(4):
            single = KVCache.for_model(model, 1)  # starts at position 0 every time
            model(tokens[:, position:position + 1], kv_cache=single)
            wrong.layers[0].keys[:, :, position] = single.layers[0].keys[:, :, 0]
    assert np.abs(wrong.layers[0].keys[:, :, 1:4] - right.layers[0].keys[:, :, 1:4]).max() > 1e-3


def test_generation_past_the_context_length_crops_like_the_uncached_run():
    """Context 16, prompt 5, 30 new tokens: the last 19 steps run on a cropped window."""
    model = small_gpt(6)
    cached = generate(model, PROMPT, 30, temperature=0)
    assert np.array_equal(cached, generate(model, PROMPT, 30, temperature=0, use_cache=False))
    long_prompt = np.random.default_rng(7).integers(0, 23, 40)  # longer than the context itself
    cached = generate(model, long_prompt, 5, temperature=0)
    assert np.array_equal(cached[:40], long_prompt)
    assert np.array_equal(cached, generate(model, long_prompt, 5, temperature=0, use_cache=False))


def test_a_batch_of_prompts_generates_each_row_as_alone():
    model = small_gpt(8)
    prompts = np.array([[1, 2, 3], [20, 0, 7]])
    both = generate(model, prompts, 8, temperature=0)
    assert both.shape == (2, 11)
    for row in range(2):
        assert np.array_equal(both[row], generate(model, prompts[row], 8, temperature=0))


# -- the cache's memory ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, itemsize", [(np.float32, 4), (np.float64, 8)])
def test_the_cache_memory_is_2_layers_batch_heads_capacity_head_dim_bytes(dtype, itemsize):
    model = GPT(50, 32, 24, 3, 4)
    for weights in model.parameters():
        weights.data = weights.data.astype(dtype)
    cache = KVCache.for_model(model, batch=2)
    assert cache.capacity == 32 and cache.length == 0
    assert cache.nbytes == 2 * 4 * 2 * 3 * 32 * 8 * itemsize
    assert cache.layers[0].keys.dtype == dtype


def test_the_cache_refuses_what_does_not_fit():
    layer = LayerKVCache(batch=1, heads=2, capacity=4, head_dim=3)
    keys = Tensor(np.ones((1, 2, 3, 3)))
    layer.append(keys, keys)
    with pytest.raises(ValueError, match=r"holds 3 of 4 positions: no room for 3 more"):
        layer.append(keys, keys)
    with pytest.raises(ValueError, match=r"got values of shape \(1, 2, 1, 5\): expected \(batch=1, heads=2, T, head_dim=3\)"):
        layer.append(Tensor(np.ones((1, 2, 1, 3))), Tensor(np.ones((1, 2, 1, 5))))
    with pytest.raises(RuntimeError, match=r"generate under tinytorch.autograd.no_grad\(\)"):
        layer.append(Tensor(np.ones((1, 2, 1, 3)), requires_grad=True), Tensor(np.ones((1, 2, 1, 3))))


# -- sampling ----------------------------------------------------------------------------------------
def test_sampling_follows_softmax_of_logits_over_temperature():
    logits = np.tile(np.array([2.0, 1.0, 0.0, -1.0]), (40000, 1))
    rng = np.random.default_rng(9)
    for temperature in (1.0, 0.5, 2.0):
        counts = np.bincount(pick_next_token(logits, temperature, None, rng), minlength=4) / len(logits)
        expected = np.exp(logits[0] / temperature) / np.exp(logits[0] / temperature).sum()
        assert np.abs(counts - expected).max() < 0.01, (temperature, counts, expected)


def test_sampling_is_stable_for_huge_logits_and_for_rows_far_apart():
    """Each row is shifted by its own maximum before exp: logits near +1000 do not overflow,
    and a row near -1000 next to one near +1000 does not underflow to all zeros."""
    row = np.array([2.0, 1.0, 0.0])
    logits = np.repeat(np.stack([row + 1000.0, row - 1000.0]), 20000, axis=0)
    draws = pick_next_token(logits, 1.0, None, np.random.default_rng(13))
    expected = np.exp(row) / np.exp(row).sum()
    for half in (draws[0::2], draws[1::2]):
        shares = np.bincount(half, minlength=3) / len(half)
        assert np.abs(shares - expected).max() < 0.015, (shares, expected)


def test_top_k_samples_only_the_k_highest_scores():
    logits = np.tile(np.array([0.5, 3.0, -1.0, 2.0, 2.5]), (20000, 1))
    draws = pick_next_token(logits, 1.0, 2, np.random.default_rng(10))
    assert set(np.unique(draws).tolist()) == {1, 4}
    share = np.mean(draws == 1)
    assert abs(share - 1 / (1 + np.exp(-0.5))) < 0.015


def forward_calls(model):
    """Record (shape of the ids, whether a cache was passed) of every forward of ``model``."""
    calls, forward = [], model.forward

    def recorded(ids, kv_cache=None):
        calls.append((tuple(np.shape(ids.data if isinstance(ids, Tensor) else ids)), kv_cache is not None))
        return forward(ids, kv_cache=kv_cache)

    model.forward = recorded
    return calls


def test_the_cache_processes_the_prompt_once_then_one_token_per_step():
    """With the cache: one forward of the prompt, then one of each new token but the last (its
    logits would not be used). Without: one forward of the whole prefix per token. The same
    tokens either way, so only this tells that the cache is really used."""
    model = small_gpt(14)
    cached = forward_calls(model)
    generate(model, PROMPT, 6, temperature=0)
    assert cached == [((1, 5), True)] + [((1, 1), True)] * 5
    model = small_gpt(14)
    uncached = forward_calls(model)
    generate(model, PROMPT, 6, temperature=0, use_cache=False)
    assert uncached == [((1, length), False) for length in range(5, 11)]


def test_a_full_cache_is_refilled_with_the_last_context_tokens():
    """Past the context every position of the cropped window shifts, so cached keys no longer
    fit: each such step prefills the last ``context_length`` tokens afresh."""
    model = small_gpt(15, context=8)
    calls = forward_calls(model)
    generate(model, PROMPT, 9, temperature=0)
    # the prompt (5 tokens), then single tokens until the 8 slots are full, then windows of 8
    assert calls == [((1, 5), True), ((1, 1), True), ((1, 1), True), ((1, 1), True),
                     ((1, 8), True), ((1, 8), True), ((1, 8), True), ((1, 8), True), ((1, 8), True)]


def test_top_k_of_1_is_greedy():
    model = small_gpt(11)
    assert np.array_equal(generate(model, PROMPT, 12, temperature=1.5, top_k=1, seed=0),
                          generate(model, PROMPT, 12, temperature=0))


def test_a_seed_repeats_a_sample_and_another_seed_changes_it():
    model = small_gpt(12)
    first = generate(model, PROMPT, 20, temperature=1.0, seed=42)
    assert np.array_equal(first, generate(model, PROMPT, 20, temperature=1.0, seed=42))
    assert np.array_equal(first, generate(model, PROMPT, 20, temperature=1.0, seed=42, use_cache=False))
    assert not np.array_equal(first, generate(model, PROMPT, 20, temperature=1.0, seed=43))
    tinytorch.manual_seed(7)
    library = generate(model, PROMPT, 20)
    tinytorch.manual_seed(7)
    assert np.array_equal(library, generate(model, PROMPT, 20))


def test_generation_records_no_graph_and_restores_the_training_mode():
    model = small_gpt(13)
    model.train()
    generate(model, PROMPT, 3)
    assert model.training and is_grad_enabled()
    assert all(parameter.grad is None for parameter in model.parameters())
    model.eval()
    generate(model, PROMPT, 3)
    assert not model.training


def test_no_new_tokens_returns_the_prompt():
    assert np.array_equal(generate(small_gpt(), PROMPT, 0), PROMPT)


def test_bad_arguments_are_refused_by_name():
    model = small_gpt()
    with pytest.raises(ValueError, match=r"prompt ids from 3 to 23: expected 0 <= id < 23"):
        generate(model, [3, 23], 2)
    with pytest.raises(ValueError, match=r"prompt ids of shape \(0,\)"):
        generate(model, np.array([], dtype=np.int64), 2)
    with pytest.raises(ValueError, match=r"prompt ids of shape \(2,\) and dtype float64"):
        generate(model, [1.0, 2.0], 2)
    with pytest.raises(ValueError, match=r"temperature=-1.0: expected a finite number >= 0"):
        generate(model, PROMPT, 2, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k=24: expected None or an integer from 1 to 23"):
        generate(model, PROMPT, 2, top_k=24)
    with pytest.raises(ValueError, match=r"max_new_tokens=-1: expected an integer >= 0"):
        generate(model, PROMPT, -1)
    with pytest.raises(ValueError, match=r"GPT got a sequence of length 1 after 16 cached positions"):
        with no_grad():
            cache = KVCache.for_model(model, 1)
            model(np.zeros((1, 16), dtype=np.int64), kv_cache=cache)
            model(np.zeros((1, 1), dtype=np.int64), kv_cache=cache)
