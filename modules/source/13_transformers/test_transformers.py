"""Unit tests of module 13 (transformers): layer norm, the MLP, the pre-norm block and GPT.

Layer norm against its formula and PyTorch; GPT's logits against a NumPy forward written from
its weights (float64), its parameter count against the hand formula, its initialisation's
statistics, the causal property at the model level, gradients by finite differences on a
tiny model, and a few Adam steps on a tiny text that must make the loss fall.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.layers import Linear
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Adam
from tinytorch.transformers import GPT, MLP, LayerNorm, TransformerBlock, layer_norm, next_token_loss

pytestmark = pytest.mark.module("transformers")


def float64(model):
    for weights in model.parameters():
        weights.data = weights.data.astype(np.float64)
    return model


def tiny_gpt(seed=0, vocab=7, context=6, dim=8, heads=2, layers=2):
    tinytorch.manual_seed(seed)
    return float64(GPT(vocab, context, dim, heads, layers))


# -- the NumPy forward, written from the weights ----------------------------------------------------
def numpy_layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps) * weight + bias


def numpy_gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def numpy_gpt(model, ids):
    """GPT's forward with NumPy arrays only, heads one at a time."""
    p = {name: parameter.data for name, parameter in model.named_parameters()}

    def dense(h, name):
        out = h @ p[f"{name}.weight"]
        return out + p[f"{name}.bias"] if f"{name}.bias" in p else out

    length, size = ids.shape[1], model.dim // model.heads
    allowed = np.tril(np.ones((length, length), dtype=bool))
    x = p["token.weight"][ids] + p["position.weight"][:length]
    for layer in range(model.num_layers):
        prefix = f"blocks.{layer}"
        h = numpy_layer_norm(x, p[f"{prefix}.ln1.weight"], p[f"{prefix}.ln1.bias"])
        q, k, v = (dense(h, f"{prefix}.attention.{name}") for name in ("query", "key", "value"))
        heads = []
        for head in range(model.heads):
            part = slice(head * size, (head + 1) * size)
            scores = np.where(allowed, q[..., part] @ np.swapaxes(k[..., part], 1, 2) / np.sqrt(size), -np.inf)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            heads.append(weights / weights.sum(axis=-1, keepdims=True) @ v[..., part])
        x = x + dense(np.concatenate(heads, axis=-1), f"{prefix}.attention.out")
        h = numpy_layer_norm(x, p[f"{prefix}.ln2.weight"], p[f"{prefix}.ln2.bias"])
        x = x + dense(numpy_gelu(dense(h, f"{prefix}.mlp.fc")), f"{prefix}.mlp.proj")
    return numpy_layer_norm(x, p["ln_final.weight"], p["ln_final.bias"]) @ p["head.weight"]


# -- layer norm --------------------------------------------------------------------------------------
def test_layer_norm_by_hand():
    """[1, 2, 3, 6]: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5 (biased), so x_hat = (x - 3) / sqrt(3.5)."""
    out = layer_norm(Tensor([[1.0, 2.0, 3.0, 6.0]], dtype=np.float64), Tensor(np.full(4, 2.0), dtype=np.float64),
                     Tensor(np.full(4, 0.5), dtype=np.float64), eps=1e-5)
    expected = np.array([-2.0, -1.0, 0.0, 3.0]) / np.sqrt(3.5 + 1e-5) * 2.0 + 0.5
    assert np.allclose(out.data[0], expected, rtol=1e-14, atol=0)


def test_layer_norm_gives_every_vector_mean_0_and_variance_1():
    x = np.random.default_rng(0).normal(5.0, 3.0, (3, 4, 16))
    out = LayerNorm(16)(Tensor(x)).data
    assert out.dtype == np.float32
    assert np.allclose(out.mean(axis=-1), 0.0, atol=1e-5)
    assert np.allclose(out.var(axis=-1), 1.0, atol=1e-3)


def test_layer_norm_does_not_mix_vectors():
    """Unlike batch norm, a vector's output does not depend on the other vectors of the batch."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8))
    norm = LayerNorm(8)
    alone = norm(Tensor(x[:1], dtype=np.float64)).data
    assert np.allclose(norm(Tensor(x, dtype=np.float64)).data[:1], alone, rtol=1e-15, atol=1e-15)


def test_layer_norm_forward_and_backward_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 3, 5)), rng.standard_normal(5), rng.standard_normal(5)]
    ours = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = layer_norm(*ours, eps=1e-5)
    expected = torch.nn.functional.layer_norm(theirs[0], (5,), theirs[1], theirs[2], eps=1e-5)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert np.allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, reference in zip(ours, theirs):
        assert np.allclose(mine.grad, reference.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x, weight, bias = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    assert gradcheck(lambda x, w, b: layer_norm(x, w, b, eps=1e-5), [x, weight, bias])


def test_layer_norm_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"LayerNorm\(8, eps=1e-05\) got input of shape \(2, 6\): expected last dimension 8"):
        LayerNorm(8)(Tensor(np.ones((2, 6))))
    with pytest.raises(ValueError, match=r"layer_norm got input of shape \(2, 6\) and weight of shape \(5,\)"):
        layer_norm(Tensor(np.ones((2, 6))), Tensor(np.ones(5)), Tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"layer_norm got bias of shape \(4,\): expected \(6,\)"):
        layer_norm(Tensor(np.ones((2, 6))), Tensor(np.ones(6)), Tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"eps=0: expected eps > 0"):
        LayerNorm(4, eps=0)


# -- MLP and block -----------------------------------------------------------------------------------
def test_mlp_is_linear_gelu_linear_with_four_times_the_width():
    tinytorch.manual_seed(0)
    mlp = float64(MLP(6))
    assert (mlp.fc.in_features, mlp.fc.out_features, mlp.proj.out_features) == (6, 24, 6)
    x = np.random.default_rng(4).standard_normal((2, 3, 6))
    hidden = numpy_gelu(x @ mlp.fc.weight.data + mlp.fc.bias.data)
    expected = hidden @ mlp.proj.weight.data + mlp.proj.bias.data
    assert np.allclose(mlp(Tensor(x, dtype=np.float64)).data, expected, rtol=1e-12, atol=1e-12)
    assert MLP(6, hidden=10).fc.out_features == 10


def test_transformer_block_is_pre_norm_with_two_residuals():
    tinytorch.manual_seed(1)
    block = float64(TransformerBlock(8, 2))
    x = Tensor(np.random.default_rng(5).standard_normal((2, 5, 8)), dtype=np.float64)
    after_attention = x.data + block.attention(block.ln1(x)).data
    expected = after_attention + block.mlp(block.ln2(Tensor(after_attention, dtype=np.float64))).data
    assert np.allclose(block(x).data, expected, rtol=1e-13, atol=1e-13)


def test_transformer_block_gradients_match_finite_differences():
    tinytorch.manual_seed(2)
    block = float64(TransformerBlock(4, 2))
    assert gradcheck(lambda x: block(x), [np.random.default_rng(6).standard_normal((2, 3, 4))])


# -- GPT ---------------------------------------------------------------------------------------------
def test_gpt_shapes_and_parameter_names():
    model = GPT(vocab_size=11, context_length=9, dim=8, heads=2, layers=3)
    assert model(np.zeros((2, 9), dtype=np.int64)).shape == (2, 9, 11)
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["token.weight", "position.weight"] and names[-3:] == [
        "ln_final.weight", "ln_final.bias", "head.weight"]
    assert "blocks.2.attention.out.weight" in names and "blocks.2.mlp.proj.bias" in names


@pytest.mark.parametrize("vocab, context, dim, heads, layers", [(11, 9, 8, 2, 3), (256, 64, 128, 4, 2), (5, 1, 4, 4, 1)])
def test_parameter_count_matches_the_hand_formula(vocab, context, dim, heads, layers):
    """Embeddings vocab*dim and context*dim; per block two layer norms (4 dim), four attention
    projections (4 dim^2 + 4 dim) and the MLP (8 dim^2 + 5 dim); the final norm (2 dim) and the
    head without bias (dim * vocab)."""
    model = GPT(vocab, context, dim, heads, layers)
    expected = vocab * dim + context * dim + layers * (12 * dim**2 + 13 * dim) + 2 * dim + dim * vocab
    assert model.parameter_count() == expected
    assert model.parameter_count() == sum(p.size for p in model.parameters())


def test_the_benchmark_model_has_495104_parameters():
    """The gpt workload's model (vocab 256, context 256 for generation, dim 128, 4 heads, 2 blocks)."""
    assert GPT(256, 256, 128, 4, 2).parameter_count() == 256 * 128 * 3 + 2 * (12 * 128**2 + 13 * 128) + 256 == 495104


def test_gpt_logits_match_a_numpy_forward_from_the_weights():
    model = tiny_gpt()
    for parameter in model.parameters():  # move the norms and biases off their 1 and 0 starts
        parameter.data += np.random.default_rng(7).normal(0.0, 0.1, parameter.shape)
    ids = np.array([[0, 3, 6, 2, 2, 5], [1, 1, 4, 0, 6, 3]])
    logits = model(ids)
    assert logits.dtype == np.float64
    assert np.allclose(logits.data, numpy_gpt(model, ids), rtol=1e-11, atol=1e-12)
    assert np.allclose(model(ids[:, :4]).data, numpy_gpt(model, ids[:, :4]), rtol=1e-11, atol=1e-12)


def test_initialisation_follows_gpt2():
    tinytorch.manual_seed(3)
    model = GPT(512, 64, 128, 4, 8)
    p = dict(model.named_parameters())
    assert abs(p["token.weight"].data.std() - 0.02) < 0.001
    assert abs(p["blocks.0.mlp.fc.weight"].data.std() - 0.02) < 0.001
    residual = 0.02 / np.sqrt(2 * 8)
    for name in ("blocks.3.attention.out.weight", "blocks.3.mlp.proj.weight"):
        assert abs(p[name].data.std() - residual) < 0.0005, name
    assert np.all(p["blocks.1.attention.query.bias"].data == 0) and np.all(p["blocks.1.ln2.weight"].data == 1)
    assert np.all(p["ln_final.bias"].data == 0)
    assert abs(model(np.zeros((1, 4), dtype=np.int64)).data.std() - 0.02 * np.sqrt(128)) < 0.1


def test_a_change_to_a_later_token_leaves_every_earlier_logit_bit_identical():
    tinytorch.manual_seed(4)
    model = GPT(20, 8, 16, 4, 2)
    ids = np.random.default_rng(8).integers(0, 20, (2, 8))
    before = model(ids).data
    for position in range(8):
        changed = ids.copy()
        changed[:, position] = (changed[:, position] + 1) % 20
        after = model(changed).data
        assert np.array_equal(after[:, :position], before[:, :position]), position
        assert not np.allclose(after[:, position], before[:, position])


def test_gpt_refuses_a_sequence_longer_than_its_context():
    model = GPT(10, 4, 8, 2, 1)
    with pytest.raises(ValueError, match=r"GPT got a sequence of length 5: the context length is 4; crop to the last 4"):
        model(np.zeros((1, 5), dtype=np.int64))


def test_gpt_refuses_bad_ids_and_settings():
    model = GPT(10, 4, 8, 2, 1)
    with pytest.raises(IndexError, match=r"got index 10: expected 0 <= index < 10"):
        model(np.array([[1, 10]]))
    with pytest.raises(TypeError, match=r"expected integer token ids"):
        model(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"GPT got token ids of shape \(3,\): expected \(batch, T\)"):
        model(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"GPT\(dim=10, heads=4\): dim must be divisible by heads"):
        GPT(10, 4, 10, 4, 1)
    with pytest.raises(ValueError, match=r"GPT layers=0: expected a positive integer"):
        GPT(10, 4, 8, 2, 0)


def test_next_token_loss_is_the_mean_cross_entropy_over_every_position():
    rng = np.random.default_rng(9)
    logits, targets = Tensor(rng.standard_normal((2, 3, 5)), dtype=np.float64), rng.integers(0, 5, (2, 3))
    expected = cross_entropy(Tensor(logits.data.reshape(6, 5), dtype=np.float64), targets.reshape(6)).item()
    assert next_token_loss(logits, targets).item() == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match=r"logits of shape \(2, 3, 5\) and targets of shape \(2, 4\)"):
        next_token_loss(logits, np.zeros((2, 4), dtype=np.int64))


def test_gpt_parameter_gradients_match_finite_differences():
    """gradcheck through the whole model: the loss as a function of four of its parameters."""
    model = tiny_gpt(vocab=5, context=4, dim=4, heads=2, layers=1)
    ids, targets = np.array([[0, 3, 1, 4]]), np.array([[3, 1, 4, 2]])
    names = ["token.weight", "blocks.0.ln1.weight", "blocks.0.attention.key.weight", "head.weight"]
    modules = dict(model.named_modules())
    owners = {name: modules[name.rpartition(".")[0]] for name in names}
    originals = dict(model.named_parameters())

    def loss_of(*tensors):
        for name, tensor in zip(names, tensors):
            object.__setattr__(owners[name], name.rpartition(".")[2], tensor)
        try:
            return next_token_loss(model(ids), targets)
        finally:
            for name in names:
                object.__setattr__(owners[name], name.rpartition(".")[2], originals[name])

    assert gradcheck(loss_of, [originals[name].data.copy() for name in names])


def test_a_few_adam_steps_on_a_tiny_text_make_the_loss_fall():
    text = "the cat sat on the mat. " * 4
    vocab = sorted(set(text))
    ids = np.array([[vocab.index(c) for c in text]])
    tinytorch.manual_seed(5)
    model = GPT(len(vocab), 24, 32, 4, 2)
    optimizer = Adam(model.parameters(), lr=1e-2)
    windows = np.stack([ids[0, i:i + 25] for i in range(0, len(text) - 25, 7)])
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = next_token_loss(model(windows[:, :-1]), windows[:, 1:])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(len(vocab)), abs=0.1)  # small initial weights: uniform guesses
    assert losses[-1] < 0.35 * losses[0], losses
