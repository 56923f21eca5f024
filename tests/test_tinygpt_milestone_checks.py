"""Negative controls for the graders of milestone 4 (TinyGPT): broken work they must reject.

Each ``check_*`` function of ``milestones/04_tinygpt/test_tinygpt.py`` passes on the reference
solution (the fixtures below run the real graders on real results before corrupting copies).
Here each one gets a deliberately broken implementation, or a result that claims what was not
measured, and must fail on it: a GPT whose mask leaks the future, a loss claimed but not
reached, a blank PNG, a wrong parameter count, a "cached" generation that differs, and more.

Hidden from the student edition: these tests start from the reference solution.
"""

from __future__ import annotations

import copy
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from milestone_controls import graders_of, rejects, with_changes
from pytest_tinytorch.course.milestone_code import load_milestone

pytestmark = pytest.mark.hidden


def save_blank_png(path, size=(8, 5)) -> None:
    figure = Figure(figsize=size, dpi=100)
    figure.add_subplot().set_axis_off()
    figure.savefig(path)


@pytest.fixture(scope="module")
def tinygpt():
    return load_milestone("tinygpt", variant="solution")


@pytest.fixture(scope="module")
def graders():
    return graders_of("tinygpt")


@pytest.fixture(scope="module")
def data(tinygpt):
    return tinygpt.load_corpus()


@pytest.fixture(scope="module")
def trained(tinygpt, graders, data):
    """The QUICK run, which the training grader accepts before the controls corrupt copies of it."""
    model = tinygpt.build_gpt(graders.VOCABULARY, tinygpt.QUICK)
    history = tinygpt.train_gpt(model, data, tinygpt.QUICK)
    graders.check_training(tinygpt, model, history, data, tinygpt.QUICK)
    return model, history


# -- Part 1: model ------------------------------------------------------------------------------
def test_model_check_rejects_a_mask_that_leaks_the_future(tinygpt, graders):
    graders.check_model(tinygpt)

    def leaky_gpt(vocab_size, config):
        model = tinygpt.build_gpt(vocab_size, config)
        for block in model.blocks.layers:
            block.attention.causal = False  # every position now also reads the later ones
        return model

    rejects(graders.check_model, with_changes(tinygpt, build_gpt=leaky_gpt))


def test_model_check_rejects_unseeded_weights_and_a_wrong_shape(tinygpt, graders):
    from tinytorch.transformers import GPT

    def unseeded(vocab_size, config):
        return GPT(vocab_size, config.context_length, config.dim, config.heads, config.layers)

    rejects(graders.check_model, with_changes(tinygpt, build_gpt=unseeded))

    def one_layer_too_few(vocab_size, config):
        return tinygpt.build_gpt(vocab_size, tinygpt.replace(config, layers=config.layers - 1))

    rejects(graders.check_model, with_changes(tinygpt, build_gpt=one_layer_too_few))


# -- Part 2: training ---------------------------------------------------------------------------
def test_batch_check_rejects_unshifted_targets_a_fixed_start_and_a_missed_last_window(tinygpt, graders):
    graders.check_get_batch(tinygpt)

    def unshifted(ids, batch_size, context_length, rng):
        inputs, _ = tinygpt.get_batch(ids, batch_size, context_length, rng)
        return inputs, inputs.copy()

    def always_from_the_start(ids, batch_size, context_length, rng):
        window = np.asarray(ids)[: context_length + 1]
        return np.tile(window[:-1], (batch_size, 1)), np.tile(window[1:], (batch_size, 1))

    def off_by_one(ids, batch_size, context_length, rng):
        ids = np.asarray(ids)
        starts = rng.integers(0, len(ids) - context_length - 1, size=batch_size)  # never the last window
        windows = np.stack([ids[s:s + context_length + 1] for s in starts])
        return windows[:, :-1], windows[:, 1:]

    for broken in (unshifted, always_from_the_start, off_by_one):
        rejects(graders.check_get_batch, with_changes(tinygpt, get_batch=broken))


def test_schedule_check_rejects_no_warm_up_and_a_linear_decay(tinygpt, graders):
    graders.check_learning_rate(tinygpt)

    def no_warm_up(step, config):
        return tinygpt.learning_rate(step + config.warmup, config) if step < config.warmup else tinygpt.learning_rate(step, config)

    def linear_decay(step, config):
        if step < config.warmup:
            return config.lr * (step + 1) / config.warmup
        return config.lr * (1 - (step - config.warmup) / config.steps)

    for broken in (no_warm_up, linear_decay):
        rejects(graders.check_learning_rate, with_changes(tinygpt, learning_rate=broken))


def test_loss_check_rejects_an_unweighted_mean_and_a_model_left_in_eval_mode(tinygpt, graders, trained, data):
    model, _ = trained
    graders.check_estimate_loss(tinygpt, model, data)
    from tinytorch.autograd import no_grad
    from tinytorch.transformers import next_token_loss

    def mean_of_chunk_means(model, inputs, targets, chunk=64):
        with no_grad():
            return float(np.mean([next_token_loss(model(inputs[s:s + chunk]), targets[s:s + chunk]).item()
                                  for s in range(0, len(inputs), chunk)]))

    def leaves_eval_mode(model, inputs, targets, chunk=64):
        loss = tinygpt.estimate_loss(model, inputs, targets, chunk)
        model.eval()
        return loss

    try:
        for broken in (mean_of_chunk_means, leaves_eval_mode):
            rejects(graders.check_estimate_loss, with_changes(tinygpt, estimate_loss=broken), model, data)
    finally:
        model.train()


def test_training_check_rejects_a_loss_claimed_but_not_reached(tinygpt, graders, trained, data):
    model, history = trained
    claimed = {**history, "val_loss": [*history["val_loss"][:-1], 1.9]}
    rejects(graders.check_training, tinygpt, model, claimed, data, tinygpt.QUICK)
    untrained = tinygpt.build_gpt(graders.VOCABULARY, tinygpt.QUICK)  # the history of another model
    rejects(graders.check_training, tinygpt, untrained, history, data, tinygpt.QUICK)
    constant_lr = {**history, "lr": [tinygpt.QUICK.lr] * tinygpt.QUICK.steps}
    rejects(graders.check_training, tinygpt, model, constant_lr, data, tinygpt.QUICK)
    too_few = {**history, "eval_step": history["eval_step"][1:], "val_loss": history["val_loss"][1:]}
    rejects(graders.check_training, tinygpt, model, too_few, data, tinygpt.QUICK)


def test_training_check_rejects_a_model_that_did_not_reach_the_target(tinygpt, graders, data):
    barely = tinygpt.replace(tinygpt.QUICK, steps=20, eval_every=10, warmup=5)
    model = tinygpt.build_gpt(graders.VOCABULARY, barely)
    history = tinygpt.train_gpt(model, data, barely)
    assert history["val_loss"][-1] > graders.QUICK_TARGET  # honest numbers, just not good enough
    rejects(graders.check_training, tinygpt, model, history, data, barely)


# -- Part 3: visualization --------------------------------------------------------------------------
def test_sample_check_rejects_sampling_when_asked_for_greedy(tinygpt, graders, trained, data):
    model, _ = trained
    graders.check_samples(tinygpt, model, data["tokenizer"])

    def always_samples(model, tokenizer, prompt, new_tokens, temperature=0.8, top_k=10, seed=0):
        return tinygpt.sample(model, tokenizer, prompt, new_tokens, temperature=1.0, top_k=None, seed=seed)

    def unseeded(model, tokenizer, prompt, new_tokens, temperature=0.8, top_k=10, seed=0):
        return tinygpt.sample(model, tokenizer, prompt, new_tokens, temperature, top_k, seed=None)

    for broken in (always_samples, unseeded):
        rejects(graders.check_samples, with_changes(tinygpt, sample=broken), model, data["tokenizer"])


def test_attention_check_rejects_leaking_uniform_and_wrong_layer_maps(tinygpt, graders, trained, data):
    model, _ = trained
    ids = data["tokenizer"].encode_array("First Citizen:\nBefore")
    graders.check_attention_maps(tinygpt, model, ids)

    def without_mask(model, ids, layer=0):
        leaky = copy.deepcopy(model)
        for block in leaky.blocks.layers:
            block.attention.causal = False
        hidden = leaky.position(leaky.token(np.asarray(ids)[None]))
        for earlier in leaky.blocks.layers[:layer]:
            hidden = earlier(hidden)
        block = leaky.blocks.layers[layer]
        attention, normed = block.attention, block.ln1(hidden)
        q, k = attention.split_heads(attention.query(normed)), attention.split_heads(attention.key(normed))
        scores = np.einsum("bhqd,bhkd->bhqk", q.data, k.data) / math.sqrt(q.shape[-1])
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return (weights / weights.sum(axis=-1, keepdims=True))[0]

    def uniform_over_the_past(model, ids, layer=0):
        length = len(ids)
        rows = np.tril(np.ones((length, length))) / np.arange(1, length + 1)[:, None]
        return np.repeat(rows[None], model.heads, axis=0)

    def always_the_first_block(model, ids, layer=0):
        return tinygpt.attention_maps(model, ids, 0)

    for broken in (without_mask, uniform_over_the_past, always_the_first_block):
        rejects(graders.check_attention_maps, with_changes(tinygpt, attention_maps=broken), model, ids)


def test_plot_checks_reject_blank_pngs(tinygpt, graders, trained, tmp_path):
    _, history = trained
    weights = np.tril(np.ones((4, 6, 6))) / np.arange(1, 7)[:, None]
    graders.check_attention_plot(tinygpt, weights, list("abcdef"), tmp_path / "attention.png")
    graders.check_learning_curves_plot(tinygpt, history, tmp_path / "curves.png")

    def blank(*args, path=None, **kwargs):
        path = args[-1] if path is None else path
        save_blank_png(path, size=(14, 4))
        return path

    rejects(graders.check_attention_plot, with_changes(tinygpt, plot_attention=lambda w, l, p: blank(p)),
            weights, list("abcdef"), tmp_path / "blank_attention.png")
    rejects(graders.check_learning_curves_plot, with_changes(tinygpt, plot_learning_curves=lambda h, p: blank(p)),
            history, tmp_path / "blank_curves.png")


# -- Part 4: systems analysis -------------------------------------------------------------------------
def test_formula_checks_reject_a_wrong_parameter_count_and_flops_without_attention(tinygpt, graders, trained):
    model, _ = trained
    graders.check_parameter_formula(tinygpt)
    graders.check_flops_per_token(tinygpt, model)

    def without_biases(vocab_size, config):
        d = config.dim
        return vocab_size * d + config.context_length * d + config.layers * 12 * d * d + d * vocab_size

    def weight_tied(vocab_size, config):
        return tinygpt.parameter_formula(vocab_size, config) - vocab_size * config.dim

    for broken in (without_biases, weight_tied):
        rejects(graders.check_parameter_formula, with_changes(tinygpt, parameter_formula=broken))

    def matrices_only(vocab_size, config, attended):
        return 2 * (config.layers * 12 * config.dim**2 + config.dim * vocab_size)

    def multiply_add_as_one(vocab_size, config, attended):
        return tinygpt.flops_per_token(vocab_size, config, attended) // 2

    for broken in (matrices_only, multiply_add_as_one):
        rejects(graders.check_flops_per_token, with_changes(tinygpt, flops_per_token=broken), model)


def test_memory_checks_reject_counted_parameters_and_a_cache_without_values(tinygpt, graders, trained):
    model, _ = trained
    graders.check_activation_bytes(tinygpt, model)
    graders.check_kv_cache_bytes(tinygpt, model, tinygpt.QUICK)

    def with_parameters(model, batch_size, length, seed=0):
        return tinygpt.activation_bytes(model, batch_size, length, seed) + sum(p.data.nbytes for p in model.parameters())

    def linear_in_length(model, batch_size, length, seed=0):
        return batch_size * length * model.dim * 4 * 20 * model.num_layers

    for broken in (with_parameters, linear_in_length):
        rejects(graders.check_activation_bytes, with_changes(tinygpt, activation_bytes=broken), model)

    def keys_only(config, batch_size, itemsize=4):
        return tinygpt.kv_cache_bytes(config, batch_size, itemsize) // 2

    def float64_cache(config, batch_size, itemsize=4):
        return tinygpt.kv_cache_bytes(config, batch_size, 8)

    for broken in (keys_only, float64_cache):
        rejects(graders.check_kv_cache_bytes, with_changes(tinygpt, kv_cache_bytes=broken), model, tinygpt.QUICK)


def test_generation_check_rejects_a_cached_run_that_differs_and_inverted_rates(tinygpt, graders, data):
    model = tinygpt.build_gpt(graders.VOCABULARY, tinygpt.replace(tinygpt.QUICK, context_length=graders.SPEED_CONTEXT))
    prompt = data["tokenizer"].encode_array("ROMEO:\n")
    tokens = graders.SPEED_TOKENS
    real = tinygpt.generation_speed(model, prompt, tokens, rounds=5)
    graders.check_generation_speed(tinygpt, model, prompt, real, tokens)

    from tinytorch.generation import generate

    stale = real["cached"].copy()
    stale[len(prompt) + 5:] = generate(model, stale[:len(prompt) + 5], tokens - 5, temperature=0.8, seed=0)[len(prompt) + 5:]
    assert not np.array_equal(stale, real["cached"]), "the control must really differ"
    differing = {**real, "cached": stale}  # and still claims identical=True
    rejects(graders.check_generation_speed, tinygpt, model, prompt, differing, tokens)
    inverted = {**real, "speedup": real["cached_seconds"] / real["uncached_seconds"]}
    rejects(graders.check_generation_speed, tinygpt, model, prompt, inverted, tokens)
    typed_in = {**real, "cached_tokens_per_second": 10 * real["cached_tokens_per_second"]}
    rejects(graders.check_generation_speed, tinygpt, model, prompt, typed_in, tokens)
    slower = {**real, "cached_seconds": real["uncached_seconds"] * 2, "speedup": 0.5,
              "cached_tokens_per_second": tokens / (real["uncached_seconds"] * 2)}
    rejects(graders.check_generation_speed, tinygpt, model, prompt, slower, tokens)


# -- Part 5: comparison study -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison(tinygpt, graders, data, tmp_path_factory):
    path = tmp_path_factory.mktemp("comparison") / "context_lengths.png"
    result = tinygpt.compare_context_lengths(data, tinygpt.QUICK, graders.COMPARISON_LENGTHS, path)
    graders.check_comparison(tinygpt, result, data, tinygpt.QUICK, graders.COMPARISON_LENGTHS, path)
    return result, path


def test_comparison_check_rejects_claimed_losses_swapped_contexts_and_a_blank_plot(tinygpt, graders, comparison, data):
    result, path = comparison
    short, long = graders.COMPARISON_LENGTHS
    config = tinygpt.QUICK
    claimed = {**result, long: {**result[long], "val_loss": result[long]["val_loss"] - 0.3}}
    rejects(graders.check_comparison, tinygpt, claimed, data, config, graders.COMPARISON_LENGTHS, path)
    swapped = {**result, short: {**result[short], "model": result[long]["model"]}}
    rejects(graders.check_comparison, tinygpt, swapped, data, config, graders.COMPARISON_LENGTHS, path)
    wider = tinygpt.build_gpt(graders.VOCABULARY, tinygpt.replace(config, context_length=long, dim=48))
    unfair = {**result, long: {**result[long], "model": wider, "parameters": wider.parameter_count()}}
    rejects(graders.check_comparison, tinygpt, unfair, data, config, graders.COMPARISON_LENGTHS, path)
    # the second length must win: the honest results, graded as if context 4 were the longer one
    rejects(graders.check_comparison, tinygpt, result, data, config, (long, short), path)
    blank = path.with_name("blank.png")
    save_blank_png(blank)
    rejects(graders.check_comparison, tinygpt, {**result, "path": blank}, data, config, graders.COMPARISON_LENGTHS, blank)
