"""Unit tests of module 11 (embeddings): the gather, its scatter-add backward, the layers.

Lookups and gradients against hand-worked cases (repeated ids above all), against the grader's
NumPy reference and against PyTorch when it is installed; initialisation as PyTorch; learned
positions and the sinusoidal table against their formulas and a few hand values; error
messages; and a bigram model that learns from its embeddings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.embeddings import Embedding, PositionalEmbedding, embedding, sinusoidal_positions
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import SGD
from pytest_tinytorch.grader.graded_ops.embeddings import embedding_reference

pytestmark = pytest.mark.module("embeddings")

TABLE = np.arange(12.0).reshape(4, 3)
"""Row r is [3r, 3r + 1, 3r + 2]."""


def leaf(values, dtype=np.float64):
    return Tensor(np.asarray(values, dtype=dtype), dtype=dtype, requires_grad=True)


# -- the gather ------------------------------------------------------------------------------------
def test_embedding_picks_one_row_per_id_and_keeps_the_shape_of_the_ids():
    out = embedding(Tensor(TABLE), np.array([[3, 0], [0, 2]]))
    assert out.shape == (2, 2, 3)
    assert out.data.tolist() == [[[9, 10, 11], [0, 1, 2]], [[0, 1, 2], [6, 7, 8]]]


def test_one_id_gives_one_vector_and_no_ids_give_no_vectors():
    assert embedding(Tensor(TABLE), 1).data.tolist() == [3, 4, 5]
    empty = embedding(Tensor(TABLE), [])
    assert empty.shape == (0, 3)


def test_ids_may_be_a_list_an_int32_array_or_an_integer_tensor():
    expected = [[6, 7, 8], [3, 4, 5]]
    for ids in ([2, 1], np.array([2, 1], dtype=np.int32), Tensor(np.array([2, 1]))):
        assert embedding(Tensor(TABLE), ids).data.tolist() == expected


def test_embedding_matches_the_one_id_at_a_time_reference():
    rng = np.random.default_rng(0)
    weight, ids = rng.standard_normal((7, 5)), rng.integers(0, 7, size=(3, 4))
    assert np.array_equal(embedding(Tensor(weight, dtype=np.float64), ids).data, embedding_reference(weight, ids))


# -- the scatter-add -------------------------------------------------------------------------------
def test_a_repeated_id_receives_the_sum_of_its_gradients():
    """Ids [2, 0, 2]: row 2 is read twice and gets 1 + 100 and 2 + 200; row 1 and row 3 are
    never read and get exactly 0. ``grad[ids] += g`` would give row 2 only [100, 200]."""
    weight = leaf(np.zeros((4, 2)))
    embedding(weight, np.array([2, 0, 2])).backward(np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]]))
    assert weight.grad.tolist() == [[10, 20], [0, 0], [101, 202], [0, 0]]


def test_naive_fancy_index_add_loses_repeated_gradients():
    """Why the backward needs np.add.at: with repeated ids, += writes a row once per id."""
    grad = np.zeros(3)
    grad[np.array([1, 1, 1])] += 1.0
    assert grad.tolist() == [0, 1, 0]
    np.add.at(grad, np.array([1, 1, 1]), 1.0)
    assert grad.tolist() == [0, 4, 0]


def test_the_gradient_of_a_batch_of_sequences_counts_every_reading():
    """With a cotangent of ones, row r's gradient is the number of times r occurs."""
    ids = np.array([[0, 1, 1, 3], [3, 3, 3, 1]])
    weight = leaf(np.ones((5, 2)))
    embedding(weight, ids).sum().backward()
    assert weight.grad[:, 0].tolist() == [1, 3, 0, 4, 0]
    assert weight.grad[:, 1].tolist() == [1, 3, 0, 4, 0]


def test_embedding_gradients_pass_gradcheck_with_repeated_ids():
    rng = np.random.default_rng(1)
    ids = np.array([[0, 4, 4], [1, 0, 4]])
    assert gradcheck(lambda w: embedding(w, ids), [rng.standard_normal((6, 3))])
    assert gradcheck(lambda w: (embedding(w, ids) * embedding(w, ids[::-1])).sum(), [rng.standard_normal((6, 3))])


def test_embedding_forward_and_backward_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    weight, ids, grad = rng.standard_normal((9, 4)), rng.integers(0, 9, size=(3, 5)), rng.standard_normal((3, 5, 4))
    ours = leaf(weight)
    out = embedding(ours, ids)
    out.backward(grad)
    theirs = torch.tensor(weight, requires_grad=True)
    expected = torch.nn.functional.embedding(torch.tensor(ids), theirs)
    expected.backward(torch.tensor(grad))
    assert np.allclose(out.data, expected.detach().numpy(), rtol=0, atol=0)
    assert np.allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out_and_gradient():
    layer = Embedding(5, 3)
    out = layer(np.array([1, 1, 4]))
    out.sum().backward()
    assert out.dtype == np.float32 and layer.weight.grad.dtype == np.float32


# -- the Embedding layer ---------------------------------------------------------------------------
def test_embedding_layer_has_one_weight_shaped_as_in_pytorch():
    layer = Embedding(65, 32)
    assert [(name, p.shape) for name, p in layer.named_parameters()] == [("weight", (65, 32))]
    assert repr(layer) == "Embedding(65, 32)"
    assert layer(np.array([[0, 64]])).shape == (1, 2, 32)


def test_embedding_layer_starts_from_a_standard_normal():
    """N(0, 1) as PyTorch: with 256 x 256 = 65,536 draws the mean is within 0.02 of 0 and the
    standard deviation within 0.02 of 1 (4 and 5 standard errors)."""
    tinytorch.manual_seed(0)
    weight = Embedding(256, 256).weight.data
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1.0) < 0.02
    assert abs(np.mean(np.abs(weight) > 1.96) - 0.05) < 0.005  # the normal's tails, not a uniform's


def test_embedding_layer_is_repeatable_with_manual_seed():
    tinytorch.manual_seed(7)
    first = Embedding(10, 4).weight.data.copy()
    tinytorch.manual_seed(7)
    assert np.array_equal(Embedding(10, 4).weight.data, first)


def test_embedding_layer_computes_the_functional_form():
    layer = Embedding(4, 3)
    ids = np.array([[1, 3, 1]])
    assert np.array_equal(layer(ids).data, layer.weight.data[ids])


# -- errors ----------------------------------------------------------------------------------------
def test_an_id_outside_the_table_names_the_id_and_the_table_size():
    with pytest.raises(IndexError, match=r"^Embedding\(65, 32\) got index 70: expected 0 <= index < 65 "
                                         r"\(at position \(1, 2\) of indices of shape \(2, 3\)\)$"):
        Embedding(65, 32)(np.array([[1, 2, 3], [4, 5, 70]]))
    with pytest.raises(IndexError, match=r"^Embedding\(65, 32\) got index 65: expected 0 <= index < 65$"):
        Embedding(65, 32)(65)


def test_negative_ids_are_refused_although_numpy_would_wrap_them():
    with pytest.raises(IndexError, match=r"got index -1: expected 0 <= index < 4 \(at position \(1,\)"):
        embedding(Tensor(TABLE), [0, -1])


@pytest.mark.parametrize("ids, dtype", [([0.0, 1.0], "float64"), (np.array([True, False]), "bool"),
                                        (Tensor([1.0, 2.0]), "float32")])
def test_non_integer_ids_are_a_type_error(ids, dtype):
    with pytest.raises(TypeError, match=rf"^Embedding\(4, 3\) got indices of dtype {dtype}: expected integer token ids"):
        Embedding(4, 3)(ids)


def test_functional_embedding_checks_the_table():
    with pytest.raises(ValueError, match=r"embedding got weight of shape \(12,\): expected \(num_embeddings, embedding_dim\)"):
        embedding(Tensor(np.arange(12.0)), [0])
    with pytest.raises(IndexError, match=r"^embedding with weight of shape \(4, 3\) got index 4: expected 0 <= index < 4"):
        embedding(Tensor(TABLE), [4])


@pytest.mark.parametrize("make, message", [
    (lambda: Embedding(0, 3), r"Embedding\(0, 3\): num_embeddings=0, expected a positive integer"),
    (lambda: Embedding(4, 2.5), r"Embedding\(4, 2.5\): embedding_dim=2.5, expected a positive integer"),
    (lambda: PositionalEmbedding(-1, 8), r"PositionalEmbedding\(-1, 8\): context_length=-1, expected a positive"),
    (lambda: sinusoidal_positions(4, 0), r"sinusoidal_positions\(4, 0\): dim=0, expected a positive integer"),
])
def test_bad_sizes_fail_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- learned positions -----------------------------------------------------------------------------
def test_positional_embedding_adds_row_t_at_position_t_of_every_sequence():
    positions = PositionalEmbedding(5, 2)
    positions.weight.data[...] = np.arange(10.0).reshape(5, 2)
    x = Tensor(np.full((2, 3, 2), 100.0))
    assert positions(x).data.tolist() == [[[100, 101], [102, 103], [104, 105]]] * 2


def test_positional_gradients_sum_over_the_batch_and_skip_unused_positions():
    positions = PositionalEmbedding(4, 2)
    x = leaf(np.zeros((3, 2, 2)), np.float32)
    grad = np.arange(12.0).reshape(3, 2, 2)
    positions(x).backward(grad)
    assert positions.weight.grad.tolist() == [[12, 15], [18, 21], [0, 0], [0, 0]]
    assert np.array_equal(x.grad, grad)


def test_a_sequence_longer_than_the_context_names_both_lengths():
    with pytest.raises(ValueError, match=r"^PositionalEmbedding\(8, 4\) got a sequence of length 9 \(input of "
                                         r"shape \(2, 9, 4\)\): the context length is 8"):
        PositionalEmbedding(8, 4)(Tensor(np.zeros((2, 9, 4))))


def test_positional_embedding_checks_the_vector_size():
    with pytest.raises(ValueError, match=r"PositionalEmbedding\(8, 4\) got input of shape \(2, 3, 5\): "
                                         r"expected \(\.\.\., T, 4\)"):
        PositionalEmbedding(8, 4)(Tensor(np.zeros((2, 3, 5))))


def test_positional_embedding_parameters_and_repr():
    positions = PositionalEmbedding(16, 8)
    assert [(name, p.shape) for name, p in positions.named_parameters()] == [("weight", (16, 8))]
    assert repr(positions) == "PositionalEmbedding(16, 8)"


# -- fixed positions -------------------------------------------------------------------------------
def test_sinusoidal_positions_by_hand():
    """dim 4: pair 0 turns at 1 radian per position, pair 1 at 1/100 (10000^(2/4) = 100)."""
    table = sinusoidal_positions(3, 4, dtype=np.float64)
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert table[1].tolist() == [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]
    assert table[2].tolist() == [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]


def test_sinusoidal_positions_match_the_formula_for_even_and_odd_sizes():
    for length, dim in ((50, 16), (7, 5), (3, 1)):
        table = sinusoidal_positions(length, dim, dtype=np.float64)
        assert table.shape == (length, dim)
        for t in range(length):
            for column in range(dim):
                angle = t / 10000 ** ((column - column % 2) / dim)
                expected = math.sin(angle) if column % 2 == 0 else math.cos(angle)
                assert abs(table[t, column] - expected) < 1e-12, (length, dim, t, column)


def test_sinusoidal_similarity_depends_only_on_the_distance():
    """<P[t], P[t + k]> = sum over pairs of cos(k w_i), whatever t: the encoding of a shift is
    the same rotation everywhere, which is what lets attention read relative positions."""
    table = sinusoidal_positions(64, 32, dtype=np.float64)
    for k in (1, 5, 20):
        similarities = [table[t] @ table[t + k] for t in range(64 - k)]
        assert np.ptp(similarities) < 1e-12
    assert np.allclose(np.sum(table * table, axis=1), 16.0, rtol=1e-12)  # sin^2 + cos^2 per pair


def test_sinusoidal_positions_are_float32_by_default():
    table = sinusoidal_positions(4, 6)
    assert table.dtype == np.float32
    assert np.allclose(table, sinusoidal_positions(4, 6, dtype=np.float64), rtol=1e-6, atol=1e-7)


# -- learning through embeddings -------------------------------------------------------------------
def test_a_bigram_model_learns_which_character_follows_which():
    """Logits for the next id are the embedding of the current id (a (V, V) table). On the
    cycle 0 -> 1 -> 2 -> 3 -> 0 every next id is certain, so the loss must fall from about
    log(4) + 1/2 (random N(0, 1) logits) to near 0, and the argmax of each row is its successor."""
    tinytorch.manual_seed(0)
    sequence = np.array([0, 1, 2, 3] * 8)
    model = Embedding(4, 4)
    optimizer = SGD(model.parameters(), lr=5.0)
    losses = []
    for _ in range(60):
        loss = cross_entropy(model(sequence[:-1]), sequence[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 1.0 and losses[-1] < 0.05
    assert model.weight.data.argmax(axis=1).tolist() == [1, 2, 3, 0]
