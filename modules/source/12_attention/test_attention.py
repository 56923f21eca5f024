"""Unit tests of module 12 (attention): scaled dot-product attention, the causal mask and
multi-head self-attention.

Forward values against a NumPy reference written per head with loops, against PyTorch's
``scaled_dot_product_attention`` when it is installed; the causal property bit for bit (a
change to a later token leaves every earlier output identical); gradients by finite
differences; error messages that name the shapes.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from tinytorch.autograd import gradcheck, no_grad

pytestmark = pytest.mark.module("attention")


def reference_attention(q, k, v, mask=None):
    """The definition for one (T_q, d) query block at a time, in plain NumPy (float64)."""
    out_shape = (*np.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.shape[-2], v.shape[-1])
    weights_shape = (*out_shape[:-2], q.shape[-2], k.shape[-2])
    out, weights = np.zeros(out_shape), np.zeros(weights_shape)
    allowed = np.ones(weights_shape, dtype=bool) if mask is None else np.broadcast_to(mask, weights_shape)
    qb = np.broadcast_to(q, (*out_shape[:-2], *q.shape[-2:]))
    kb = np.broadcast_to(k, (*out_shape[:-2], *k.shape[-2:]))
    vb = np.broadcast_to(v, (*out_shape[:-2], *v.shape[-2:]))
    for index in np.ndindex(*out_shape[:-2]):
        for row in range(q.shape[-2]):
            scores = np.array([qb[index][row] @ kb[index][col] for col in range(k.shape[-2])])
            scores = scores / np.sqrt(q.shape[-1])
            scores[~allowed[index][row]] = -np.inf
            e = np.exp(scores - scores.max())
            weights[index][row] = e / e.sum()
            out[index][row] = weights[index][row] @ vb[index]
    return out, weights


def float64_attention(dim, heads, causal=True, seed=0):
    tinytorch.manual_seed(seed)
    attention = MultiHeadAttention(dim, heads, causal=causal)
    for parameter in attention.parameters():
        parameter.data = parameter.data.astype(np.float64)
    return attention


def reference_multi_head(attention, x, causal=True):
    """Per head, with a loop over heads: project, attend, concatenate, project out."""
    params = {name: p.data for name, p in attention.named_parameters()}
    q = x @ params["query.weight"] + params["query.bias"]
    k = x @ params["key.weight"] + params["key.bias"]
    v = x @ params["value.weight"] + params["value.bias"]
    size, length = attention.head_dim, x.shape[1]
    mask = np.tril(np.ones((length, length), dtype=bool)) if causal else None
    heads = []
    for head in range(attention.heads):
        part = slice(head * size, (head + 1) * size)
        heads.append(reference_attention(q[..., part], k[..., part], v[..., part], mask)[0])
    return np.concatenate(heads, axis=-1) @ params["out.weight"] + params["out.bias"]


# -- the causal mask -------------------------------------------------------------------------------
def test_causal_mask_is_lower_triangular():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(1).tolist() == [[True]]


def test_causal_mask_refuses_a_length_that_is_not_positive():
    with pytest.raises(ValueError, match=r"causal_mask\(0\): expected a positive integer length"):
        causal_mask(0)


# -- scaled dot-product attention ------------------------------------------------------------------
def test_attention_by_hand():
    """One query equally close to two keys takes the mean of their values; a query that
    matches one key strongly takes (almost) its value."""
    k = np.array([[1.0, 0.0], [0.0, 1.0]])
    v = np.array([[10.0, 0.0], [0.0, 20.0]])
    q = np.array([[1.0, 1.0], [40.0, 0.0]])
    out, weights = scaled_dot_product_attention(Tensor(q, dtype=np.float64), Tensor(k, dtype=np.float64),
                                                Tensor(v, dtype=np.float64))
    assert np.allclose(weights.data[0], [0.5, 0.5], rtol=0, atol=1e-15)
    assert out.data[0].tolist() == [5.0, 10.0]
    expected = 1.0 / (1.0 + np.exp(-40.0 / np.sqrt(2.0)))
    assert np.isclose(weights.data[1, 0], expected, rtol=1e-14)


@pytest.mark.parametrize("shapes", [
    ((5, 4), (7, 4), (7, 3)),
    ((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 6)),
    ((2, 1, 4, 3), (1, 3, 6, 3), (1, 3, 6, 2)),
])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_the_numpy_reference(shapes, masked):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape) for shape in shapes)
    mask = rng.random((shapes[0][-2], shapes[1][-2])) < 0.6 if masked else None
    if mask is not None:
        mask[:, 0] = True  # every query may see at least one key
    out, weights = scaled_dot_product_attention(*(Tensor(a, dtype=np.float64) for a in (q, k, v)), mask)
    expected_out, expected_weights = reference_attention(q, k, v, mask)
    assert out.shape == expected_out.shape and weights.shape == expected_weights.shape
    assert np.allclose(out.data, expected_out, rtol=1e-12, atol=1e-12)
    assert np.allclose(weights.data, expected_weights, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_forward_and_backward_match_pytorch(causal):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 5))]
    ours = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, _ = scaled_dot_product_attention(*ours, causal_mask(6) if causal else None)
    expected = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=causal)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert np.allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, reference in zip(ours, theirs):
        assert np.allclose(mine.grad, reference.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_causal_weights_sum_to_one_and_are_exactly_zero_above_the_diagonal():
    rng = np.random.default_rng(2)
    q, k, v = (Tensor(rng.standard_normal((2, 7, 4))) for _ in range(3))
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(7))
    assert weights.dtype == np.float32
    assert np.allclose(weights.data.sum(axis=-1), 1.0, rtol=0, atol=1e-6)
    above = np.triu(np.ones((7, 7), dtype=bool), k=1)
    assert np.all(weights.data[:, above] == 0.0)
    assert np.all(weights.data[:, ~above] > 0.0)
    # not the uniform attention of a broken mask: row i would be 1 / (i + 1) everywhere
    uniform = np.tril(np.ones((7, 7))) / np.arange(1, 8)[:, None]
    assert np.abs(weights.data - uniform).max() > 0.1


def test_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2))
    mask = causal_mask(4)
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0], [q, k, v])
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v)[1], [q, k, v])


def test_a_masked_key_gets_no_gradient():
    """Keys and values that no query may see do not influence the output at all."""
    rng = np.random.default_rng(4)
    q, k, v = (Tensor(rng.standard_normal((3, 2)), dtype=np.float64, requires_grad=True) for _ in range(3))
    mask = np.array([[True, True, False]] * 3)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    out.backward(rng.standard_normal(out.shape))
    assert np.all(k.grad[2] == 0.0) and np.all(v.grad[2] == 0.0)
    assert np.all(k.grad[:2] != 0.0) and np.all(v.grad[:2] != 0.0)


# -- errors ------------------------------------------------------------------------------------------
def test_queries_and_keys_of_different_sizes_are_refused_by_shape():
    with pytest.raises(ValueError, match=r"q of shape \(2, 5, 4\) and k of shape \(2, 5, 3\): queries and keys "
                                         r"must have the same last dimension \(4 vs 3\)"):
        scaled_dot_product_attention(Tensor(np.ones((2, 5, 4))), Tensor(np.ones((2, 5, 3))), Tensor(np.ones((2, 5, 3))))


def test_keys_and_values_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"k of shape \(5, 4\) and v of shape \(6, 4\): expected one value per key"):
        scaled_dot_product_attention(Tensor(np.ones((5, 4))), Tensor(np.ones((5, 4))), Tensor(np.ones((6, 4))))


def test_a_vector_is_refused():
    with pytest.raises(ValueError, match=r"got q of shape \(4,\): expected \(\.\.\., T, d\)"):
        scaled_dot_product_attention(Tensor(np.ones(4)), Tensor(np.ones((5, 4))), Tensor(np.ones((5, 4))))


def test_bad_masks_are_refused():
    q = k = v = Tensor(np.ones((2, 3, 4)))
    with pytest.raises(TypeError, match=r"mask has dtype float64: expected booleans"):
        scaled_dot_product_attention(q, k, v, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast to the scores of shape "
                                         r"\(2, 3, 3\)"):
        scaled_dot_product_attention(q, k, v, causal_mask(4))
    with pytest.raises(ValueError, match=r"lets some query attend to no key at all"):
        scaled_dot_product_attention(q, k, v, np.array([[True, False, False], [False] * 3, [True] * 3]))


def test_dim_not_divisible_by_heads_is_refused_by_name():
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(dim=10, heads=4\): dim must be divisible by heads "
                                         r"\(10 % 4 = 2\)"):
        MultiHeadAttention(10, 4)


def test_multi_head_attention_refuses_an_input_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"got input of shape \(2, 5, 6\): expected \(batch, T, 8\)"):
        MultiHeadAttention(8, 2)(Tensor(np.ones((2, 5, 6))))


# -- multi-head self-attention ---------------------------------------------------------------------
def test_multi_head_attention_has_four_projections_and_its_parameter_count():
    attention = MultiHeadAttention(16, 4)
    assert attention.head_dim == 4
    assert [name for name, _ in attention.named_parameters()] == [
        "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias", "out.weight", "out.bias"]
    assert sum(p.size for p in attention.parameters()) == 4 * (16 * 16 + 16)


@pytest.mark.parametrize("causal", [True, False])
def test_multi_head_attention_matches_a_per_head_reference(causal):
    attention = float64_attention(12, 3, causal=causal)
    x = np.random.default_rng(5).standard_normal((2, 5, 12))
    out = attention(Tensor(x, dtype=np.float64))
    assert out.shape == (2, 5, 12)
    assert np.allclose(out.data, reference_multi_head(attention, x, causal), rtol=1e-12, atol=1e-12)


def test_split_and_merge_heads_are_inverse_and_give_each_head_its_slice():
    attention = MultiHeadAttention(6, 3)
    x = Tensor(np.arange(2 * 4 * 6, dtype=np.float64).reshape(2, 4, 6), dtype=np.float64)
    split = attention.split_heads(x)
    assert split.shape == (2, 3, 4, 2)
    assert np.array_equal(split.data[1, 2, 3], x.data[1, 3, 4:6])
    assert np.array_equal(attention.merge_heads(split).data, x.data)


def test_a_change_to_a_future_token_leaves_every_earlier_output_bit_identical():
    """The causal property, bit for bit, at every position: the original course's GPT had a
    mask bug that made attention uniform and let the future leak in."""
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(16, 4)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 8, 16)).astype(np.float32)
    before = attention(Tensor(x)).data
    for position in range(8):
        changed = x.copy()
        changed[:, position] += rng.standard_normal((2, 16)).astype(np.float32)
        after = attention(Tensor(changed)).data
        assert np.array_equal(after[:, :position], before[:, :position]), position
        assert not np.allclose(after[:, position], before[:, position])


@pytest.mark.parametrize("length", [2, 3, 5])
def test_short_sequences_are_masked_too(length):
    """The causal mask for every length above 1, the shortest included (found by ``tito
    mutate``: a layer that skipped the mask for sequences of 2 passed the test of length 8)."""
    tinytorch.manual_seed(1)
    attention = MultiHeadAttention(8, 2)
    rng = np.random.default_rng(length)
    x = rng.standard_normal((1, length, 8)).astype(np.float32)
    changed = x.copy()
    changed[:, -1] += rng.standard_normal((1, 8)).astype(np.float32)
    assert np.array_equal(attention(Tensor(changed)).data[:, :-1], attention(Tensor(x)).data[:, :-1])


def test_without_the_causal_mask_the_future_leaks_in():
    """The control of the test above: the same change moves the earlier outputs."""
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(16, 4, causal=False)
    x = np.random.default_rng(6).standard_normal((1, 8, 16)).astype(np.float32)
    changed = x.copy()
    changed[:, 7] += 1.0
    assert np.abs(attention(Tensor(changed)).data[:, 0] - attention(Tensor(x)).data[:, 0]).max() > 1e-4


def test_the_mask_is_made_once_and_its_rows_serve_cached_queries():
    attention = MultiHeadAttention(8, 2)
    attention(Tensor(np.ones((1, 5, 8))))
    made = attention.mask
    attention(Tensor(np.ones((1, 3, 8))))
    assert attention.mask is made and made.shape[0] >= 5
    assert attention.causal_rows(3, 2).tolist() == causal_mask(5)[3:5].tolist()
    assert attention.causal_rows(4, 1).tolist() == [[True] * 5]


def test_multi_head_attention_gradients_match_finite_differences():
    attention = float64_attention(6, 2)
    x = np.random.default_rng(7).standard_normal((2, 3, 6))
    assert gradcheck(lambda x: attention(x), [x])


def test_every_parameter_gets_a_gradient():
    attention = MultiHeadAttention(8, 2)
    attention(Tensor(np.random.default_rng(8).standard_normal((2, 4, 8)))).sum().backward()
    for name, parameter in attention.named_parameters():
        assert parameter.grad is not None and parameter.grad.shape == parameter.shape, name
        assert np.abs(parameter.grad).max() > 0, name


# -- the joined projection ----------------------------------------------------------------------
def test_query_key_and_value_are_columns_of_one_joined_matrix_and_keep_their_names():
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    assert attention.projections_joined()
    assert attention.joined_weight.shape == (8, 24) and attention.joined_bias.shape == (24,)
    for index, name in enumerate(("query", "key", "value")):
        columns = slice(8 * index, 8 * (index + 1))
        assert np.array_equal(attention.joined_weight[:, columns], getattr(attention, name).weight.data), name
        assert np.array_equal(attention.joined_bias[columns], getattr(attention, name).bias.data), name
    state = {name: np.full(value.shape, number, dtype=np.float32)
             for number, (name, value) in enumerate(attention.state_dict().items())}
    attention.load_state_dict(state)  # in place: the joined arrays follow
    assert attention.projections_joined()
    assert np.all(attention.joined_weight[:, 8:16] == 2) and np.all(attention.joined_bias[16:] == 5)


def test_under_no_grad_one_joined_matmul_makes_q_k_and_v_without_calling_the_three_linears():
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(16, 4)
    x = Tensor(np.random.default_rng(9).standard_normal((2, 5, 16)).astype(np.float32))
    calls = []
    for projection in (attention.query, attention.key, attention.value):
        projection.forward = lambda x, original=projection.forward: calls.append(1) or original(x)
    recorded = attention(x)  # a gradient may be recorded: each Linear makes its own
    assert len(calls) == 3
    with no_grad():
        joined = attention(x)
    assert len(calls) == 3  # not called again
    assert np.allclose(joined.data, recorded.data, rtol=1e-6, atol=1e-7)


def test_an_update_in_place_reaches_the_joined_matrix_and_a_replaced_array_ends_the_joining():
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    x = np.random.default_rng(10).standard_normal((1, 4, 8))
    attention.key.weight.data -= 0.5  # in place, as an optimizer step
    attention.value.bias.data[...] = 1.0
    with no_grad():
        joined = attention(Tensor(x)).data
    assert attention.projections_joined()
    assert np.allclose(joined, attention(Tensor(x)).data, rtol=1e-6, atol=1e-7)
    for parameter in attention.parameters():
        parameter.data = parameter.data.astype(np.float64)  # replaced, not written in place
    assert not attention.projections_joined()
    with no_grad():
        unjoined = attention(Tensor(x, dtype=np.float64))
    assert unjoined.dtype == np.float64
    assert np.allclose(unjoined.data, attention(Tensor(x, dtype=np.float64)).data, rtol=1e-12, atol=1e-12)
    attention.join_projections()
    assert attention.projections_joined() and attention.joined_weight.dtype == np.float64
    with no_grad():
        assert np.allclose(attention(Tensor(x, dtype=np.float64)).data, unjoined.data, rtol=1e-12, atol=1e-12)


def test_a_copy_of_the_layer_does_not_read_the_joined_arrays_it_no_longer_shares():
    """A deep copy turns every view into an array of its own: the copy's joined arrays would
    be stale after an update of the copy, so it falls back to the three projections."""
    tinytorch.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    duplicate = copy.deepcopy(attention)
    duplicate.query.weight.data *= 3.0
    x = Tensor(np.random.default_rng(11).standard_normal((1, 3, 8)).astype(np.float32))
    assert not duplicate.projections_joined() and attention.projections_joined()
    with no_grad():
        copied, original = duplicate(x).data, attention(x).data
    assert np.allclose(copied, duplicate(x).data, rtol=1e-6, atol=1e-7)
    assert np.allclose(original, attention(x).data, rtol=1e-6, atol=1e-7)
    assert not np.allclose(copied, original, atol=1e-4)
