"""Unit tests of module 03 (layers): Module bookkeeping, Linear, Sequential, Dropout, Flatten."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.layers import Dropout, Flatten, Linear, Module, Parameter, Sequential

pytestmark = pytest.mark.module("layers")


class Block(Module):
    def __init__(self):
        super().__init__()
        self.fc = Linear(2, 3)
        self.scale = Parameter(np.ones(3))
        self.not_a_parameter = Tensor(np.ones(3), requires_grad=True)


class Net(Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = Linear(3, 1)
        self.dropout = Dropout(0.5)

    def forward(self, x):
        return self.head(self.dropout(self.block.fc(x) * self.block.scale))


# -- registration -----------------------------------------------------------------------------
def test_parameters_of_nested_modules_have_dotted_names():
    """As PyTorch: a module's own parameters first, then its submodules' in assignment order."""
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "head.weight", "head.bias"]


def test_parameters_are_the_registered_objects():
    net = Net()
    assert net.parameters()[0] is net.block.scale
    assert net.parameters()[1] is net.block.fc.weight
    assert all(isinstance(p, Parameter) and p.requires_grad for p in net.parameters())
    assert sum(p.size for p in net.parameters()) == 2 * 3 + 3 + 3 + 3 * 1 + 1


def test_named_modules_walks_the_tree():
    net = Net()
    assert [name for name, _ in net.named_modules()] == ["", "block", "block.fc", "head", "dropout"]
    assert dict(net.named_modules())["block.fc"] is net.block.fc


def test_a_shared_parameter_is_listed_once():
    class Tied(Module):
        def __init__(self):
            super().__init__()
            self.encoder = Linear(4, 4)
            self.decoder = Linear(4, 4)
            self.decoder.weight = self.encoder.weight
            self.again = self.encoder  # the same module under a second name

    tied = Tied()
    names = [name for name, _ in tied.named_parameters()]
    assert names == ["encoder.weight", "encoder.bias", "decoder.bias"]
    assert len(tied.parameters()) == 3


def test_reassigning_an_attribute_unregisters_the_old_value():
    block = Block()
    block.scale = np.ones(3)  # no longer a Parameter
    block.fc = None
    assert list(dict(block.named_parameters())) == []
    block.fc = Linear(2, 2)
    del block.fc
    assert block.parameters() == [] and [name for name, _ in block.named_modules()] == [""]


def test_assigning_before_super_init_is_explained():
    class Forgetful(Module):
        def __init__(self):
            self.fc = Linear(1, 1)

    with pytest.raises(RuntimeError, match=r"Forgetful.__init__ must call super\(\).__init__\(\) before assigning 'fc'"):
        Forgetful()


def test_module_without_forward_names_itself():
    class Empty(Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        Empty()(Tensor([1.0]))


def test_train_and_eval_reach_every_submodule_and_return_the_module():
    net = Net()
    assert all(module.training for _, module in net.named_modules())
    assert net.eval() is net
    assert [module.training for _, module in net.named_modules()] == [False] * 5
    assert net.train() is net
    assert all(module.training for _, module in net.named_modules())
    net.block.train(False)
    assert (net.training, net.block.training, net.block.fc.training, net.head.training) == (True, False, False, True)


def test_zero_grad_clears_every_parameter_gradient():
    net = Net()
    for parameter in net.parameters():
        parameter.grad = np.ones_like(parameter.data)
    net.zero_grad()
    assert [p.grad for p in net.parameters()] == [None] * 5


def test_module_repr_lists_children():
    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(Block()) == "Block(\n  (fc): Linear(in_features=2, out_features=3, bias=True)\n)"


# -- state_dict ------------------------------------------------------------------------------
def test_state_dict_holds_copies_by_dotted_name():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["block.scale", "block.fc.weight", "block.fc.bias", "head.weight", "head.bias"]
    state["head.bias"][...] = 123.0
    assert net.head.bias.data[0] != 123.0


def test_state_dict_round_trip_restores_outputs_in_place():
    tinytorch.manual_seed(1)
    source, target = Net().eval(), Net().eval()
    x = Tensor(np.random.default_rng(0).standard_normal((4, 2)))
    assert not np.allclose(source(x).data, target(x).data)
    weight_object = target.head.weight
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target(x).data, source(x).data)
    assert target.head.weight is weight_object  # loaded in place: optimizers keep their references


def test_load_state_dict_reports_missing_and_unexpected_keys():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    state["head.gamma"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['head.bias'\], unexpected keys \['head.gamma'\]"):
        net.load_state_dict(state)


def test_load_state_dict_non_strict_loads_what_matches():
    net = Net()
    net.load_state_dict({"block.scale": np.full(3, 2.0)}, strict=False)
    np.testing.assert_array_equal(net.block.scale.data, [2.0, 2.0, 2.0])


def test_load_state_dict_refuses_a_wrong_shape():
    net = Net()
    state = net.state_dict()
    state["head.weight"] = np.zeros((1, 3))
    with pytest.raises(ValueError, match=r"head.weight has shape \(1, 3\) in the state but \(3, 1\) in the model"):
        net.load_state_dict(state)


# -- Linear -----------------------------------------------------------------------------------
def test_linear_computes_x_at_w_plus_b():
    layer = Linear(3, 2)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype=np.float32)
    expected = x @ layer.weight.data + layer.bias.data
    out = layer(Tensor(x))
    assert out.shape == (2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)


def test_linear_applies_to_the_last_axis_of_any_batch_shape():
    layer = Linear(3, 5)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data + layer.bias.data, rtol=1e-5, atol=1e-6)
    assert layer(Tensor(x[0, 0])).shape == (5,)


def test_linear_shapes_dtype_and_no_bias():
    layer = Linear(4, 3)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    no_bias = Linear(4, 3, bias=False)
    assert no_bias.bias is None and [name for name, _ in no_bias.named_parameters()] == ["weight"]
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(no_bias(Tensor(x)).data, x @ no_bias.weight.data, rtol=1e-6)


def test_linear_init_is_uniform_within_one_over_sqrt_fan_in():
    tinytorch.manual_seed(0)
    layer = Linear(400, 300)
    bound = 1.0 / np.sqrt(400)  # 0.05
    weight = layer.weight.data
    assert np.abs(weight).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert weight.max() > 0.99 * bound and weight.min() < -0.99 * bound  # fills the interval
    assert abs(weight.mean()) < 0.001
    assert abs(weight.std() - bound / np.sqrt(3)) < 0.001  # std of U(-b, b) is b / sqrt(3)


def test_manual_seed_makes_initialisation_repeatable():
    tinytorch.manual_seed(42)
    first = Linear(5, 5).weight.data.copy()
    tinytorch.manual_seed(42)
    np.testing.assert_array_equal(Linear(5, 5).weight.data, first)
    assert not np.array_equal(Linear(5, 5).weight.data, first)


def test_linear_shape_error_names_the_layer_the_input_and_the_expectation():
    with pytest.raises(ValueError) as error:
        Linear(3, 4)(Tensor(np.ones((2, 5))))
    assert str(error.value) == "Linear(3, 4) got input of shape (2, 5): expected last dimension 3"


def test_linear_takes_a_list_or_an_array_as_a_constant_tensor():
    """Linear(3, 4)([[1, 2, 3]]) used to fail with "'list' object has no attribute 'ndim'"."""
    layer = Linear(3, 4)
    rows = [[1, 2, 3], [0.5, -1, 2]]
    expected = np.array(rows, dtype=np.float32) @ layer.weight.data + layer.bias.data
    for given in (rows, np.array(rows), np.array(rows, dtype=np.float64)):
        out = layer(given)
        assert isinstance(out, Tensor) and out.dtype == np.float32
        np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    # the input is a constant; the parameters still record the graph (backward is module 05's)
    assert out.requires_grad
    with pytest.raises(ValueError, match=r"Linear\(3, 4\) got input of shape \(1, 2\): expected last dimension 3"):
        layer([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"Tensor got data of dtype <U3: expected numbers \(float, int or bool\)"):
        layer("abc")


def test_linear_refuses_zero_features():
    with pytest.raises(ValueError, match=r"Linear\(0, 3\): feature counts must be positive integers"):
        Linear(0, 3)


# -- Sequential ----------------------------------------------------------------------------
def test_sequential_composes_layers_in_order():
    first, second = Linear(2, 4), Linear(4, 1)
    model = Sequential(first, ReLU(), second)
    x = np.array([[1.0, -2.0], [0.5, 3.0], [0.0, 0.0]], dtype=np.float32)
    hidden = np.maximum(x @ first.weight.data + first.bias.data, 0.0)
    np.testing.assert_allclose(model(Tensor(x)).data, hidden @ second.weight.data + second.bias.data, rtol=1e-6)
    assert len(model) == 3 and model[0] is first and model[2] is second


def test_sequential_registers_its_layers_by_index():
    model = Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_sequential_refuses_a_layer_that_cannot_be_called():
    with pytest.raises(TypeError, match="Sequential layer 1 is 3, which is not callable"):
        Sequential(Linear(1, 1), 3)


def test_sequential_repr():
    assert repr(Sequential(Linear(2, 3), ReLU())) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"
    )


# -- Dropout -------------------------------------------------------------------------------
def test_dropout_is_the_identity_in_eval_mode():
    dropout = Dropout(0.9).eval()
    x = Tensor(np.arange(10.0))
    np.testing.assert_array_equal(dropout(x).data, x.data)


def test_dropout_zeros_about_p_and_scales_the_rest_so_the_mean_is_preserved():
    tinytorch.manual_seed(0)
    out = Dropout(0.25)(Tensor(np.ones((1000, 1000)))).data
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.003  # 1e6 draws: standard deviation 0.0004
    np.testing.assert_array_equal(np.unique(out[kept]), [np.float32(1 / 0.75)])
    assert abs(out.mean() - 1.0) < 0.005
    assert out.dtype == np.float32


def test_dropout_masks_are_repeatable_with_a_seed_and_differ_without_reseeding():
    x = Tensor(np.ones(64))
    dropout = Dropout(0.5)
    tinytorch.manual_seed(7)
    first = dropout(x).data.copy()
    second = dropout(x).data
    tinytorch.manual_seed(7)
    np.testing.assert_array_equal(dropout(x).data, first)
    assert not np.array_equal(first, second)


def test_dropout_with_p_zero_passes_through_and_invalid_p_is_refused():
    x = Tensor(np.arange(5.0))
    np.testing.assert_array_equal(Dropout(0.0)(x).data, x.data)
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"Dropout probability p={p}: expected 0 <= p < 1"):
            Dropout(p)


def test_dropout_inside_a_model_follows_eval():
    tinytorch.manual_seed(3)
    model = Sequential(Linear(8, 8), Dropout(0.5))
    x = Tensor(np.ones((2, 8)))
    model.eval()
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    assert np.count_nonzero(model(x).data == 0) > 0


# -- Flatten -------------------------------------------------------------------------------
def test_flatten_keeps_the_batch_axis():
    images = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = Flatten()(Tensor(images))
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out.data, images.reshape(2, 60))
    assert Flatten()(Tensor(np.ones((7, 3)))).shape == (7, 3)
