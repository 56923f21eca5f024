"""Unit tests of module 08 (dataloader): datasets, batch order, collation, transforms.

Orders are checked index by index for fixed seeds (the loader's generator is
``np.random.default_rng(seed)``, one permutation per epoch), lengths for ``drop_last`` both
ways, transforms on arrays small enough to work out by hand. Randomness is tested for its
distribution too: on 20,000 images a flip probability of 0.3 must flip a count within four
binomial standard deviations of 6,000.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.dataloader import (
    Compose,
    DataLoader,
    Dataset,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    TensorDataset,
    default_collate,
)

pytestmark = pytest.mark.module("dataloader")


def numbered(count: int = 10) -> TensorDataset:
    """Sample i is (a row of three copies of i as floats, the label i)."""
    labels = np.arange(count)
    return TensorDataset(np.repeat(labels[:, None], 3, axis=1).astype(np.float64), labels)


def labels_per_batch(loader) -> list[list[int]]:
    return [y.data.tolist() for _, y in loader]


class ItemByItem(Dataset):
    """A generic dataset over the same rows as ``numbered``, counting the samples fetched."""

    def __init__(self, count: int = 10):
        self.inner = numbered(count)
        self.fetched = 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        self.fetched += 1
        return self.inner[index]


class CountingTensorDataset(TensorDataset):
    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.items, self.gathers = 0, 0

    def __getitem__(self, index):
        self.items += 1
        return super().__getitem__(index)

    def gather(self, indices):
        self.gathers += 1
        return super().gather(indices)


# -- datasets ---------------------------------------------------------------------------------
def test_tensor_dataset_rows_and_gather():
    images = np.arange(24).reshape(4, 2, 3)
    labels = np.array([7, 8, 9, 6])
    data = TensorDataset(Tensor(images), labels)
    assert len(data) == 4
    x, y = data[2]
    np.testing.assert_array_equal(x, [[12, 13, 14], [15, 16, 17]])
    assert y == 9
    xs, ys = data.gather(np.array([3, 0]))
    np.testing.assert_array_equal(xs, images[[3, 0]])
    np.testing.assert_array_equal(ys, [6, 7])


def test_tensor_dataset_names_the_arrays_whose_lengths_differ():
    with pytest.raises(ValueError) as caught:
        TensorDataset(np.zeros((5, 2)), np.zeros(5), np.zeros(4))
    assert str(caught.value) == (
        "TensorDataset arrays differ in their first dimension: array 0 has 5, array 1 has 5, "
        "array 2 has 4; expected the same number of samples (rows) in every array"
    )


def test_tensor_dataset_refuses_nothing_and_single_numbers():
    with pytest.raises(ValueError, match=r"^TensorDataset needs at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"^TensorDataset array 1 is a single number \(shape \(\)\)"):
        TensorDataset(np.zeros(3), np.float64(2.0))


def test_dataset_is_abstract_and_a_subclass_only_needs_len_and_getitem():
    with pytest.raises(TypeError, match="abstract"):
        Dataset()
    data = ItemByItem(4)
    assert len(data) == 4 and data[3][1] == 3


# -- batching and order -----------------------------------------------------------------------
@pytest.mark.parametrize("count, batch_size, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]),
    (2, 5, True, []),
])
def test_len_is_the_number_of_batches_with_and_without_drop_last(count, batch_size, drop_last, sizes):
    loader = DataLoader(numbered(count), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(y.data) for _, y in loader] == sizes


def test_without_shuffle_batches_are_consecutive_rows_as_tensors():
    batches = list(DataLoader(numbered(5), batch_size=2))
    assert len(batches) == 3
    x, y = batches[1]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.dtype == np.float32 and y.dtype == np.int64  # float64 data becomes the default float
    np.testing.assert_array_equal(x.data, [[2, 2, 2], [3, 3, 3]])
    np.testing.assert_array_equal(y.data, [2, 3])
    assert labels_per_batch(DataLoader(numbered(5), batch_size=2)) == [[0, 1], [2, 3], [4]]


def test_a_seed_fixes_the_order_of_every_epoch_and_epochs_differ():
    loader = DataLoader(numbered(10), batch_size=4, shuffle=True, seed=0)
    # np.random.default_rng(0).permutation(10), then the same generator's next permutation
    assert labels_per_batch(loader) == [[4, 6, 2, 7], [3, 5, 9, 0], [8, 1]]
    assert labels_per_batch(loader) == [[2, 9, 3, 6], [0, 4, 8, 7], [5, 1]]
    generator = np.random.default_rng(0)
    again = DataLoader(numbered(10), batch_size=4, shuffle=True, seed=0)
    for _ in range(3):
        expected = generator.permutation(10).tolist()
        assert sum(labels_per_batch(again), []) == expected
    other = DataLoader(numbered(10), batch_size=10, shuffle=True, seed=1)
    assert labels_per_batch(other)[0] != [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]


def test_every_sample_appears_exactly_once_per_shuffled_epoch():
    loader = DataLoader(numbered(103), batch_size=10, shuffle=True, seed=7)
    first, second = (sum(labels_per_batch(loader), []) for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(103))
    assert first != second


def test_without_a_seed_the_order_follows_manual_seed():
    def first_epoch():
        return sum(labels_per_batch(DataLoader(numbered(10), batch_size=3, shuffle=True)), [])

    tinytorch.manual_seed(3)
    run = first_epoch()
    assert run == [9, 6, 0, 2, 1, 4, 7, 5, 3, 8]  # np.random.default_rng(3).permutation(10)
    tinytorch.manual_seed(3)
    assert first_epoch() == run


def test_drop_last_drops_the_short_batch_of_a_shuffled_epoch():
    loader = DataLoader(numbered(10), batch_size=4, shuffle=True, drop_last=True, seed=0)
    assert labels_per_batch(loader) == [[4, 6, 2, 7], [3, 5, 9, 0]]


# -- gathering: vectorized or item by item ----------------------------------------------------------
def test_a_tensor_dataset_is_gathered_with_one_fancy_index_per_batch():
    data = CountingTensorDataset(*numbered(10).arrays)
    loader = DataLoader(data, batch_size=4, shuffle=True, seed=0)
    assert loader.vectorized
    batches = list(loader)
    assert (data.gathers, data.items) == (3, 0)
    assert [y.data.tolist() for _, y in batches] == [[4, 6, 2, 7], [3, 5, 9, 0], [8, 1]]


def test_a_generic_dataset_is_fetched_item_by_item_with_the_same_batches():
    generic = ItemByItem(10)
    item_loader = DataLoader(generic, batch_size=4, shuffle=True, seed=0)
    array_loader = DataLoader(numbered(10), batch_size=4, shuffle=True, seed=0)
    assert not item_loader.vectorized
    for (x_items, y_items), (x_arrays, y_arrays) in zip(item_loader, array_loader):
        np.testing.assert_array_equal(x_items.data, x_arrays.data)
        np.testing.assert_array_equal(y_items.data, y_arrays.data)
        assert x_items.dtype == x_arrays.dtype == np.float32
    assert generic.fetched == 10


def test_a_collate_fn_receives_the_samples_and_shapes_the_batch():
    seen = []

    def labels_only(samples):
        seen.append(len(samples))
        return np.array([label * 10 for _, label in samples])

    data = CountingTensorDataset(*numbered(5).arrays)
    loader = DataLoader(data, batch_size=2, collate_fn=labels_only)
    assert not loader.vectorized
    batches = list(loader)
    assert seen == [2, 2, 1] and data.items == 5 and data.gathers == 0
    assert all(isinstance(batch, Tensor) for batch in batches)
    assert [batch.data.tolist() for batch in batches] == [[0, 10], [20, 30], [40]]


def test_default_collate_stacks_each_field():
    samples = [(np.array([1.0, 2.0]), 0), (Tensor([3.0, 4.0]), 1), (np.array([5.0, 6.0]), 2)]
    x, y = default_collate(samples)
    np.testing.assert_array_equal(x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 2])
    single = default_collate([np.zeros((2, 2)), np.ones((2, 2))])
    assert single.shape == (2, 2, 2) and single[1].sum() == 4


def test_default_collate_explains_what_does_not_stack():
    with pytest.raises(ValueError) as caught:
        default_collate([(np.zeros(3), 0), (np.zeros(4), 1)])
    assert str(caught.value) == (
        "default_collate cannot stack samples of different shapes (first fields have shapes "
        "[(3,), (4,)]): resize them to one shape, or pass DataLoader(..., collate_fn=...)"
    )
    with pytest.raises(ValueError, match=r"^default_collate got samples with different numbers of fields \[2, 3\]"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(ValueError, match="^default_collate got no samples"):
        default_collate([])


@pytest.mark.parametrize("arguments, message", [
    ({"batch_size": 0}, "DataLoader batch_size=0: expected a positive integer"),
    ({"batch_size": 2.5}, "DataLoader batch_size=2.5: expected a positive integer"),
    ({"batch_size": 2, "seed": -1}, "seed=-1: expected a non-negative integer or None"),
    ({"batch_size": 2, "seed": "zero"}, "seed='zero': expected a non-negative integer or None"),
])
def test_bad_loader_arguments_are_named(arguments, message):
    with pytest.raises(ValueError) as caught:
        DataLoader(numbered(4), **arguments)
    assert str(caught.value) == message


def test_a_loader_needs_a_dataset_and_callables():
    with pytest.raises(TypeError, match=r"^DataLoader dataset must have __len__ and __getitem__ .*; got int$"):
        DataLoader(5, batch_size=2)
    with pytest.raises(TypeError, match=r"^DataLoader transform must be callable"):
        DataLoader(numbered(4), batch_size=2, transform="flip")
    with pytest.raises(TypeError, match=r"^DataLoader collate_fn must be callable"):
        DataLoader(numbered(4), batch_size=2, collate_fn=3)


def test_the_trainer_takes_a_loader_and_sees_each_epochs_new_order():
    from tinytorch.layers import Linear
    from tinytorch.losses import MSELoss
    from tinytorch.optimizers import SGD
    from tinytorch.training import Trainer

    x = np.linspace(-1, 1, 12, dtype=np.float32)[:, None]
    data = TensorDataset(x, 3 * x - 1)

    def model_and_optimizer():
        tinytorch.manual_seed(0)
        model = Linear(1, 1)
        return model, SGD(model.parameters(), lr=0.1)

    by_hand, optimizer = model_and_optimizer()
    hand_loader = DataLoader(data, batch_size=5, shuffle=True, seed=4)
    for _ in range(3):
        for inputs, targets in hand_loader:
            loss = MSELoss()(by_hand(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    trained, trained_optimizer = model_and_optimizer()
    history = Trainer(trained, trained_optimizer, MSELoss(), metrics={}, progress=False).fit(
        DataLoader(data, batch_size=5, shuffle=True, seed=4), epochs=3
    )
    assert len(history["loss"]) == 3 and history["loss"][2] < history["loss"][0]
    np.testing.assert_array_equal(trained.weight.data, by_hand.weight.data)
    np.testing.assert_array_equal(trained.bias.data, by_hand.bias.data)


# -- transforms ----------------------------------------------------------------------------------
ASYMMETRIC = np.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]], dtype=np.float32)  # (1, 1, 3, 3)


def test_normalize_per_channel_by_hand():
    images = np.array([[[[1.0, 3.0]], [[10.0, 20.0]]]])  # (1, 2, 1, 2)
    out = Normalize(mean=(2.0, 10.0), std=(1.0, 5.0))(images)
    assert out.dtype == np.float32 and out.shape == (1, 2, 1, 2)
    np.testing.assert_array_equal(out, [[[[-1.0, 1.0]], [[0.0, 2.0]]]])
    grey = np.full((2, 1, 2, 2), 200, dtype=np.uint8)  # integers are converted, not wrapped around
    np.testing.assert_array_equal(Normalize([100], [50])(grey), np.full((2, 1, 2, 2), 2.0))


def test_normalize_errors():
    with pytest.raises(ValueError) as caught:
        Normalize([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])(np.zeros((4, 1, 8, 8)))
    assert str(caught.value) == (
        "Normalize has 3 channel means but got a batch of shape (4, 1, 8, 8): expected (N, 3, ...)"
    )
    with pytest.raises(ValueError, match=r"^Normalize got 2 means and 1 standard deviations"):
        Normalize([0, 0], [1])
    with pytest.raises(ValueError, match=r"^Normalize std=\[1.0, 0.0\]: expected every standard deviation > 0$"):
        Normalize([0, 0], [1, 0])


def test_flip_mirrors_every_image_at_p_1_and_none_at_p_0():
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(ASYMMETRIC), [[[[3, 2, 1], [6, 5, 4], [9, 8, 7]]]])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(ASYMMETRIC), ASYMMETRIC)


def flipped_mask(images: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Which images of ``out`` are mirrored copies of ``images`` (the images must be asymmetric)."""
    mirrored = np.all(out == images[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == images, axis=(1, 2, 3))
    assert np.all(mirrored ^ kept), "every image is either kept or mirrored, never changed otherwise"
    return mirrored


def test_flip_with_a_seed_flips_the_images_its_generator_picks():
    images = np.repeat(ASYMMETRIC, 6, axis=0) + np.arange(6, dtype=np.float32)[:, None, None, None]
    out = RandomHorizontalFlip(p=0.5, seed=0)(images)
    # np.random.default_rng(0).random(6) = 0.637, 0.270, 0.041, 0.017, 0.813, 0.913
    assert flipped_mask(images, out).tolist() == [False, True, True, True, False, False]
    assert out.shape == images.shape and out.dtype == images.dtype
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.5, seed=0)(images), out)


def test_flip_probability_is_within_binomial_bounds_on_a_large_batch():
    count, p = 20_000, 0.3
    images = np.broadcast_to(ASYMMETRIC, (count, 1, 3, 3))
    flipped = int(flipped_mask(images, RandomHorizontalFlip(p=p, seed=123)(images)).sum())
    sigma = (count * p * (1 - p)) ** 0.5  # 64.8
    assert abs(flipped - count * p) < 4 * sigma


def test_crop_without_padding_at_full_size_is_the_identity():
    images = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(RandomCrop((4, 5), seed=0)(images), images)


def test_crop_with_padding_by_hand():
    # padding 1 around the 3x3 image, then a 3x3 window at the generator's offsets:
    # np.random.default_rng(2).integers(0, 3, size=1) -> top 2, then left 0
    out = RandomCrop(3, padding=1, seed=2)(ASYMMETRIC)
    np.testing.assert_array_equal(out, [[[[0, 4, 5], [0, 7, 8], [0, 0, 0]]]])


def test_crop_takes_each_images_own_window_and_keeps_channels_aligned():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(64, 3, 6, 7), dtype=np.uint8)
    out = RandomCrop((4, 5), padding=2, seed=9)(images)
    assert out.shape == (64, 3, 4, 5) and out.dtype == np.uint8
    generator = np.random.default_rng(9)
    tops, lefts = generator.integers(0, 7, size=64), generator.integers(0, 7, size=64)
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(64):
        np.testing.assert_array_equal(out[n], padded[n, :, tops[n] : tops[n] + 4, lefts[n] : lefts[n] + 5])
    assert len(set(zip(tops.tolist(), lefts.tolist()))) > 20, "the offsets vary from image to image"


def test_crop_errors():
    with pytest.raises(ValueError) as caught:
        RandomCrop(8, padding=1)(np.zeros((2, 1, 5, 5)))
    assert str(caught.value) == (
        "RandomCrop size (8, 8) is larger than the padded images (7, 7) of a batch of shape (2, 1, 5, 5)"
    )
    with pytest.raises(ValueError) as caught:
        RandomCrop(2)(np.zeros((5, 5)))
    assert str(caught.value) == "RandomCrop expects a batch of images of shape (N, C, H, W); got shape (5, 5)"
    with pytest.raises(ValueError, match=r"^RandomCrop size=0: expected a positive int or \(height, width\)$"):
        RandomCrop(0)
    with pytest.raises(ValueError, match=r"^RandomCrop padding=-1: expected an integer >= 0$"):
        RandomCrop(2, padding=-1)
    with pytest.raises(ValueError, match=r"^RandomHorizontalFlip p=1.5: expected a probability"):
        RandomHorizontalFlip(1.5)


def test_compose_applies_in_order():
    normalize_then_flip = Compose([Normalize([5.0], [2.0]), RandomHorizontalFlip(p=1.0)])
    np.testing.assert_array_equal(
        normalize_then_flip(ASYMMETRIC), [[[[-1.0, -1.5, -2.0], [0.5, 0.0, -0.5], [2.0, 1.5, 1.0]]]]
    )
    with pytest.raises(TypeError, match=r"^Compose transform 1 is not callable: 'flip'$"):
        Compose([Normalize([0], [1]), "flip"])


def test_the_loader_transforms_the_inputs_and_leaves_the_labels():
    images = np.repeat(ASYMMETRIC, 4, axis=0)
    loader = DataLoader(TensorDataset(images, np.arange(4)), batch_size=3,
                        transform=Compose([RandomHorizontalFlip(p=1.0), Normalize([1.0], [2.0])]))
    (x1, y1), (x2, y2) = loader
    assert x1.shape == (3, 1, 3, 3) and x2.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(x2.data[0, 0], [[1.0, 0.5, 0.0], [2.5, 2.0, 1.5], [4.0, 3.5, 3.0]])
    assert y1.data.tolist() == [0, 1, 2] and y2.data.tolist() == [3]
    np.testing.assert_array_equal(images, np.repeat(ASYMMETRIC, 4, axis=0))  # the dataset is untouched
