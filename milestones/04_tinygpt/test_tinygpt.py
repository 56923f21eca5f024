"""Validation of Milestone 4: a character-level GPT on tiny Shakespeare, built from modules 10-14.

The implementation under test comes from ``load_milestone("tinygpt")``: the reference solution
in the instructor's repository, the student's notebook in a student edition. Every number the
notebook reports is recomputed here, independently: logits, losses and attention weights by a
float64 NumPy forward pass of the student's GPT from its weights, greedy tokens by an argmax
loop over that forward pass, the parameter count and the FLOPs from the layer shapes, the
KV-cache bytes by formula and from a real cache, activation bytes by a walk of the graph.
The tests train ``QUICK`` (a 2-layer model of width 32, 150 steps) once for the whole file; the
reference run (``--full``, held-out loss <= 2.0) is documented in the README, not repeated.

Each ``check_*`` function holds one grader; ``tests/test_tinygpt_milestone_checks.py`` feeds them
broken implementations they must reject.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from pytest_tinytorch import milestone
from pytest_tinytorch.course.milestone_code import assert_png_has_content, load_milestone

VOCABULARY = 65
QUICK_TARGET = 2.7
"""Held-out nats per character the QUICK run must reach (the reference measures 2.55; the
characters' unigram entropy is 3.3, chance ln 65 = 4.17)."""
COMPARISON_LENGTHS = (4, 32)
REQUIRED_MARGIN = 0.1
"""How much lower the context-32 model's held-out loss must be than the context-4 model's."""
GREEDY_TOKENS = 25
SPEED_CONTEXT, SPEED_TOKENS = 128, 120
"""The cache race runs on an untrained QUICK model with a context of 128: speed does not depend
on the weights, and at 32 positions the cache has too little to save to beat timing noise."""


# -- independent references -------------------------------------------------------------------
def as64(parameter) -> np.ndarray:
    return np.asarray(parameter.data, dtype=np.float64)


def normalized(x, norm) -> np.ndarray:
    average = x.mean(axis=-1, keepdims=True)
    spread = ((x - average) ** 2).mean(axis=-1, keepdims=True)
    return (x - average) / np.sqrt(spread + norm.eps) * as64(norm.weight) + as64(norm.bias)


def affine(x, linear) -> np.ndarray:
    out = x @ as64(linear.weight)
    return out if linear.bias is None else out + as64(linear.bias)


def tanh_gelu(x) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def heads_split(x, heads) -> np.ndarray:
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)


def attention_reference(attention, x):
    """(output, weights) of a causal multi-head attention layer on x (B, T, dim), in float64."""
    q, k, v = (heads_split(affine(x, projection), attention.heads)
               for projection in (attention.query, attention.key, attention.value))
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
    length = x.shape[1]
    scores = np.where(np.tril(np.ones((length, length), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    mixed = np.einsum("bhqk,bhkd->bhqd", weights, v).transpose(0, 2, 1, 3).reshape(x.shape)
    return affine(mixed, attention.out), weights


def numpy_gpt(model, ids, stop_at_layer=None):
    """Logits (B, T, vocab) of ``model`` for ids (B, T); with ``stop_at_layer``, the attention
    weights (B, heads, T, T) of that block instead."""
    ids = np.asarray(ids)
    stream = as64(model.token.weight)[ids] + as64(model.position.weight)[: ids.shape[1]]
    for index, block in enumerate(model.blocks.layers):
        mixed, weights = attention_reference(block.attention, normalized(stream, block.ln1))
        if index == stop_at_layer:
            return weights
        stream = stream + mixed
        stream = stream + affine(tanh_gelu(affine(normalized(stream, block.ln2), block.mlp.fc)), block.mlp.proj)
    return affine(normalized(stream, model.ln_final), model.head)


def numpy_loss(model, inputs, targets) -> float:
    logits = numpy_gpt(model, inputs)
    top = logits.max(axis=-1, keepdims=True)
    log_probabilities = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probabilities, np.asarray(targets)[..., None], axis=-1)
    return float(-picked.mean())


def numpy_greedy(model, prompt, new_tokens) -> np.ndarray:
    """Greedy continuation by repeated full forward passes over the last context_length ids."""
    ids = list(np.asarray(prompt))
    for _ in range(new_tokens):
        window = np.array(ids[-model.context_length:])[None]
        ids.append(int(np.argmax(numpy_gpt(model, window)[0, -1])))
    return np.array(ids)


def held_out_windows(ids, length, count):
    """``count`` windows of ``length`` + 1 ids, evenly spaced (as the notebook's evaluation_windows)."""
    starts = [int(s) for s in np.linspace(0, len(ids) - length - 1, count)]
    windows = np.array([ids[s:s + length + 1] for s in starts])
    return windows[:, :length], windows[:, 1:]


def gpt_parameters(vocab, context, dim, layers) -> int:
    """Counted per piece: embeddings; per block 4 attention Linear(d, d) with bias, the MLP's
    Linear(d, 4d) and Linear(4d, d) with biases, 2 layer norms; the final norm; the head."""
    block = 4 * (dim * dim + dim) + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim) + 2 * 2 * dim
    return vocab * dim + context * dim + layers * block + 2 * dim + dim * vocab


def flops_from_the_layers(model, attended) -> int:
    """2 FLOPs per weight of every Linear for one token, plus q.k and weights.v over ``attended`` keys."""
    from tinytorch.layers import Linear

    matrices = sum(2 * module.weight.size for _, module in model.named_modules() if isinstance(module, Linear))
    return matrices + model.num_layers * 2 * (2 * attended * model.dim)


def recorded_bytes(root) -> int:
    """Bytes of every tensor made by an op that ``root`` depends on (parents walked breadth-first)."""
    seen, frontier, total = set(), [root], 0
    while frontier:
        node = frontier.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node._parents:
            total += node.data.nbytes
        frontier.extend(node._parents)
    return total


def schedule(step, config) -> float:
    if config.warmup > step:
        return config.lr * (step + 1) / config.warmup
    fraction = min(1.0, (step - config.warmup) / max(1, config.steps - 1 - config.warmup))
    lowest = config.lr * config.min_lr_fraction
    return lowest + (config.lr - lowest) * (1 + math.cos(math.pi * fraction)) / 2


# -- the graders --------------------------------------------------------------------------------
def check_model(tinygpt) -> None:
    from tinytorch.transformers import GPT

    config = tinygpt.QUICK
    model = tinygpt.build_gpt(VOCABULARY, config)
    assert isinstance(model, GPT), f"build_gpt should return your tinytorch.transformers.GPT, got {type(model).__name__}"
    shape = (model.vocab_size, model.context_length, model.dim, model.heads, model.num_layers)
    assert shape == (VOCABULARY, config.context_length, config.dim, config.heads, config.layers), (
        f"build_gpt made (vocab, context, dim, heads, layers) = {shape} for {config}"
    )
    again = tinygpt.build_gpt(VOCABULARY, config)
    for first, second in zip(model.parameters(), again.parameters()):
        assert np.array_equal(first.data, second.data), "build_gpt should seed the generator: same config, same weights"
    assert model.parameter_count() == gpt_parameters(VOCABULARY, config.context_length, config.dim, config.layers)
    ids = np.random.default_rng(0).integers(0, VOCABULARY, (3, config.context_length))
    logits = model(ids).data
    np.testing.assert_allclose(logits, numpy_gpt(model, ids), rtol=1e-4, atol=1e-5,
                               err_msg="the GPT's logits differ from a NumPy forward pass of its weights")
    changed = ids.copy()
    changed[:, 10:] = (changed[:, 10:] + 1) % VOCABULARY
    assert np.array_equal(model(changed).data[:, :10], logits[:, :10]), (
        "changing the ids after position 9 changed the logits of positions 0-9: the model reads the future"
    )


def check_get_batch(tinygpt) -> None:
    ids = np.arange(1000) * 3  # a window's values reveal where it starts
    inputs, targets = tinygpt.get_batch(ids, 64, 16, np.random.default_rng(5))
    assert inputs.shape == targets.shape == (64, 16), f"expected (64, 16) inputs and targets, got {inputs.shape}, {targets.shape}"
    starts = inputs[:, 0] // 3
    assert np.array_equal(inputs, (starts[:, None] + np.arange(16)) * 3), "each input should be consecutive ids"
    assert np.array_equal(targets, inputs + 3), "targets[b, t] should be the id after inputs[b, t]"
    assert len(set(starts.tolist())) > 50, "windows should start at random places, not the same one"
    again, _ = tinygpt.get_batch(ids, 64, 16, np.random.default_rng(5))
    assert np.array_equal(again, inputs), "the same generator state should give the same batch"
    short = np.arange(18)
    seen = {int(tinygpt.get_batch(short, 1, 16, np.random.default_rng(seed))[0][0, 0]) for seed in range(60)}
    assert seen == {0, 1}, f"18 ids hold windows of 17 starting at 0 and 1 only; starts drawn: {sorted(seen)}"


def check_learning_rate(tinygpt) -> None:
    for config in (tinygpt.QUICK, tinygpt.REFERENCE):
        for step in sorted({0, 1, config.warmup - 1, config.warmup, config.steps // 2, config.steps - 1}):
            got = tinygpt.learning_rate(step, config)
            assert got == pytest.approx(schedule(step, config), rel=1e-9), (
                f"learning_rate({step}) = {got}; warm-up then cosine gives {schedule(step, config)}"
            )


def check_estimate_loss(tinygpt, model, data) -> None:
    inputs, targets = held_out_windows(data["val_ids"], model.context_length, 40)
    model.train()
    got = tinygpt.estimate_loss(model, inputs, targets, chunk=16)
    assert isinstance(got, float), f"estimate_loss should return a float, got {type(got).__name__}"
    assert got == pytest.approx(numpy_loss(model, inputs, targets), rel=1e-4), "estimate_loss differs from NumPy"
    assert model.training, "estimate_loss should give the model back in training mode"


def check_training(tinygpt, model, history, data, config) -> float:
    assert len(history["train_loss"]) == config.steps, f"train_loss should have one entry per step ({config.steps})"
    expected_evaluations = sorted({0, *range(config.eval_every, config.steps + 1, config.eval_every), config.steps})
    assert list(history["eval_step"]) == expected_evaluations, f"eval_step should be {expected_evaluations}"
    assert len(history["val_loss"]) == len(expected_evaluations)
    np.testing.assert_allclose(history["lr"], [schedule(step, config) for step in range(config.steps)], rtol=1e-9,
                               err_msg="the learning rate of each step should follow the warm-up + cosine schedule")
    assert history["seconds"] > 0 and history["cpu_seconds"] > 0
    inputs, targets = held_out_windows(data["val_ids"], config.context_length, config.eval_windows)
    measured = numpy_loss(model, inputs, targets)
    assert history["val_loss"][-1] == pytest.approx(measured, rel=1e-4), (
        f"the history reports a final held-out loss of {history['val_loss'][-1]:.4f}; the trained model's "
        f"weights give {measured:.4f} on the same windows"
    )
    assert abs(history["val_loss"][0] - math.log(VOCABULARY)) < 0.1, "before training the loss should be about ln 65"
    assert measured <= QUICK_TARGET, f"held-out loss {measured:.3f} nats per character; expected <= {QUICK_TARGET}"
    assert np.mean(history["train_loss"][-20:]) < np.mean(history["train_loss"][:20]) - 1.0, "the training loss should fall"
    return measured


def check_samples(tinygpt, model, tokenizer) -> None:
    prompt = "ROMEO:\n"
    greedy = tinygpt.sample(model, tokenizer, prompt, GREEDY_TOKENS, temperature=0)
    expected = tokenizer.decode(numpy_greedy(model, tokenizer.encode_array(prompt), GREEDY_TOKENS))
    assert greedy == expected, f"a greedy sample should be the argmax at every step:\n{greedy!r}\n{expected!r}"
    drawn = tinygpt.sample(model, tokenizer, prompt, 60, temperature=0.8, top_k=10, seed=1)
    assert drawn.startswith(prompt) and len(drawn) == len(prompt) + 60
    assert drawn == tinygpt.sample(model, tokenizer, prompt, 60, temperature=0.8, top_k=10, seed=1), "a seed repeats a sample"


def check_attention_maps(tinygpt, model, ids) -> list:
    maps = []
    for layer in range(model.num_layers):
        weights = np.asarray(tinygpt.attention_maps(model, ids, layer), dtype=np.float64)
        length = len(ids)
        assert weights.shape == (model.heads, length, length), (
            f"attention_maps(layer={layer}) should be (heads, T, T) = {(model.heads, length, length)}, got {weights.shape}"
        )
        future = np.triu(np.ones((length, length), dtype=bool), k=1)
        assert np.all(weights[:, future] == 0), f"block {layer}: positions attend to the future"
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5, err_msg="each row of weights should sum to 1")
        np.testing.assert_allclose(weights, numpy_gpt(model, np.asarray(ids)[None], stop_at_layer=layer)[0], atol=1e-5,
                                   err_msg=f"block {layer}'s attention weights differ from a NumPy recomputation")
        maps.append(weights)
    return maps


def check_attention_plot(tinygpt, weights, labels, path) -> None:
    assert tinygpt.plot_attention(weights, labels, path) == path, "plot_attention should return the path it saved to"
    assert_png_has_content(path, min_width=100 * len(weights), min_height=250)


def check_learning_curves_plot(tinygpt, history, path) -> None:
    assert tinygpt.plot_learning_curves(history, path) == path, "plot_learning_curves should return the path"
    assert_png_has_content(path, min_width=500, min_height=300)


def check_parameter_formula(tinygpt) -> None:
    for vocab, config in ((VOCABULARY, tinygpt.QUICK), (VOCABULARY, tinygpt.REFERENCE), (300, tinygpt.QUICK)):
        counted = gpt_parameters(vocab, config.context_length, config.dim, config.layers)
        assert tinygpt.parameter_formula(vocab, config) == counted, (
            f"parameter_formula({vocab}, {config}) = {tinygpt.parameter_formula(vocab, config)}, counted {counted}"
        )
    model = tinygpt.build_gpt(300, tinygpt.QUICK)
    assert tinygpt.parameter_formula(300, tinygpt.QUICK) == sum(p.size for p in model.parameters())


def check_flops_per_token(tinygpt, model) -> None:
    config = tinygpt.QUICK
    for attended in (1, 7, config.context_length):
        got = tinygpt.flops_per_token(model.vocab_size, config, attended)
        counted = flops_from_the_layers(model, attended)
        assert got == counted, f"flops_per_token(attended={attended}) = {got}; the model's layers give {counted}"


def check_activation_bytes(tinygpt, model) -> list:
    from tinytorch.transformers import next_token_loss

    measured = []
    for length in (8, 16, 32):
        got = tinygpt.activation_bytes(model, 2, length)
        zeros = np.zeros((2, length), dtype=np.int64)
        expected = recorded_bytes(next_token_loss(model(zeros), zeros))
        assert got == expected, f"activation_bytes(T={length}) = {got}; the graph of that forward records {expected}"
        measured.append(got)
    assert measured[2] / measured[1] > 2.0, "the attention scores and weights make the memory grow faster than T"
    return measured


def check_kv_cache_bytes(tinygpt, model, config) -> None:
    from tinytorch.generation import KVCache

    for batch in (1, 3):
        got = tinygpt.kv_cache_bytes(config, batch)
        assert got == KVCache.for_model(model, batch).nbytes, (
            f"kv_cache_bytes(batch={batch}) = {got}; a real cache for the model holds {KVCache.for_model(model, batch).nbytes}"
        )
        assert got == 2 * config.layers * batch * config.context_length * config.dim * 4


def check_generation_speed(tinygpt, model, prompt, result, new_tokens) -> None:
    for kind in ("cached", "uncached"):
        assert result[f"{kind}_tokens_per_second"] == pytest.approx(new_tokens / result[f"{kind}_seconds"]), (
            f"{kind}_tokens_per_second should be the new tokens over the median seconds"
        )
    assert result["speedup"] == pytest.approx(result["uncached_seconds"] / result["cached_seconds"])
    assert result["speedup"] > 1.0, f"the KV cache measured {result['speedup']:.2f}x: slower than no cache"
    expected = numpy_greedy(model, prompt, new_tokens)
    for key in ("cached", "uncached"):
        assert np.array_equal(np.asarray(result[key]), expected), (
            f"the {key} generation is not the greedy continuation of the prompt"
        )
    assert result["identical"] is True


def check_comparison(tinygpt, result, data, config, lengths, path) -> None:
    losses = {}
    for length in lengths:
        entry = result[length]
        model = entry["model"]
        assert model.context_length == length, f"the context-{length} model has context {model.context_length}"
        assert (model.dim, model.heads, model.num_layers) == (config.dim, config.heads, config.layers), (
            "only the context length may differ between the compared models"
        )
        assert entry["parameters"] == sum(p.size for p in model.parameters())
        assert len(entry["history"]["train_loss"]) == config.steps, "every model trains for the same number of steps"
        inputs, targets = held_out_windows(data["val_ids"], length, config.eval_windows)
        losses[length] = numpy_loss(model, inputs, targets)
        assert entry["val_loss"] == pytest.approx(losses[length], rel=1e-4), (
            f"context {length}: reports held-out loss {entry['val_loss']:.4f}, its weights give {losses[length]:.4f}"
        )
    short, long = lengths
    assert losses[long] <= losses[short] - REQUIRED_MARGIN, (
        f"context {long}: {losses[long]:.3f} against context {short}: {losses[short]:.3f}; expected the longer context "
        f"to lead by at least {REQUIRED_MARGIN}"
    )
    assert result["path"] == path
    assert_png_has_content(path, min_width=500, min_height=300)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tinygpt(pytestconfig):
    return load_milestone("tinygpt", config=pytestconfig)


@pytest.fixture(scope="module")
def data(tinygpt):
    corpus = tinygpt.load_corpus()
    assert corpus["tokenizer"].vocab_size == VOCABULARY
    return corpus


@pytest.fixture(scope="module")
def trained(tinygpt, data):
    """The QUICK run, trained once for the whole module."""
    model = tinygpt.build_gpt(VOCABULARY, tinygpt.QUICK)
    return model, tinygpt.train_gpt(model, data, tinygpt.QUICK)


@pytest.fixture(scope="module")
def comparison(tinygpt, data, tmp_path_factory):
    path = tmp_path_factory.mktemp("comparison") / "context_lengths.png"
    return tinygpt.compare_context_lengths(data, tinygpt.QUICK, COMPARISON_LENGTHS, path), path


# -- Part 1: model ----------------------------------------------------------------------------------
@milestone("tinygpt", rubric="model")
def test_gpt_matches_a_numpy_forward_and_never_reads_the_future(tinygpt):
    check_model(tinygpt)


# -- Part 2: training -------------------------------------------------------------------------------
@milestone("tinygpt", rubric="training")
def test_batches_are_random_windows_with_next_character_targets(tinygpt):
    check_get_batch(tinygpt)


@milestone("tinygpt", rubric="training")
def test_learning_rate_warms_up_then_follows_a_cosine(tinygpt):
    check_learning_rate(tinygpt)


@milestone("tinygpt", rubric="training")
def test_held_out_loss_matches_numpy_and_reaches_the_target(tinygpt, trained, data):
    model, history = trained
    check_estimate_loss(tinygpt, model, data)
    check_training(tinygpt, model, history, data, tinygpt.QUICK)


# -- Part 3: visualization --------------------------------------------------------------------------
@milestone("tinygpt", rubric="visualization")
def test_samples_are_the_models_own_continuations(tinygpt, trained, data):
    model, _ = trained
    check_samples(tinygpt, model, data["tokenizer"])


@milestone("tinygpt", rubric="visualization")
def test_attention_maps_are_causal_recomputed_and_plotted(tinygpt, trained, data, tmp_path):
    model, _ = trained
    text = "First Citizen:\nBefore we proceed"
    maps = check_attention_maps(tinygpt, model, data["tokenizer"].encode_array(text))
    check_attention_plot(tinygpt, maps[-1], list(text), tmp_path / "attention.png")


@milestone("tinygpt", rubric="visualization")
def test_learning_curves_are_saved_as_a_png(tinygpt, trained, tmp_path):
    _, history = trained
    check_learning_curves_plot(tinygpt, history, tmp_path / "plots" / "curves.png")


# -- Part 4: systems analysis -------------------------------------------------------------------------
@milestone("tinygpt", rubric="systems")
def test_parameter_and_flop_formulas_match_the_model(tinygpt, trained):
    model, _ = trained
    check_parameter_formula(tinygpt)
    check_flops_per_token(tinygpt, model)


@milestone("tinygpt", rubric="systems")
def test_activation_and_kv_cache_memory(tinygpt, trained):
    model, _ = trained
    check_activation_bytes(tinygpt, model)
    check_kv_cache_bytes(tinygpt, model, tinygpt.QUICK)


@milestone("tinygpt", rubric="systems")
def test_the_cache_gives_the_same_tokens_faster(tinygpt, data):
    from dataclasses import replace

    model = tinygpt.build_gpt(VOCABULARY, replace(tinygpt.QUICK, context_length=SPEED_CONTEXT))
    prompt = data["tokenizer"].encode_array("ROMEO:\n")
    result = tinygpt.generation_speed(model, prompt, SPEED_TOKENS, rounds=5)
    check_generation_speed(tinygpt, model, prompt, result, SPEED_TOKENS)


# -- Part 5: comparison study -------------------------------------------------------------------------
@milestone("tinygpt", rubric="comparison")
def test_a_longer_context_lowers_the_held_out_loss(tinygpt, comparison, data):
    result, path = comparison
    check_comparison(tinygpt, result, data, tinygpt.QUICK, COMPARISON_LENGTHS, path)
