"""Equivalent mutants: mutations of the reference solution that change no observable behaviour.

``tito mutate`` leaves these out of its figures (and says how many): no test can kill them,
so counting them would only lower every share. Each entry matches mutant ids with shell-style
wildcards (``*`` for the line number, which moves when the file is edited), the mutant's
description and, when the same description occurs in several places of a function, the
mutated line (stripped); each says why the mutant is equivalent. Add an entry only after
reading the mutated code and convincing yourself that no input tells the two apart; a mutant
that merely survives belongs in a new test instead.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Equivalent:
    id_pattern: str  # "05_autograd:unbroadcast:*:comparison:*"
    description: str  # the mutant's description, or "*" for any
    reason: str
    mutated_line: str = "*"  # the first changed line of the mutant, stripped


EQUIVALENT_MUTANTS: tuple[Equivalent, ...] = (
    Equivalent(
        "03_layers:Flatten.forward:*:constant:*", "1 -> 2",
        "x.reshape(n, -2) is x.reshape(n, -1): NumPy reads any negative size as 'the rest of "
        "the elements', so the mutated Flatten returns the same array",
    ),
    Equivalent(
        "03_layers:Dropout.forward:*:comparison:*", ">= -> > in generator().random(x.shape) >= self.p",
        "random() > p and random() >= p differ only when a uniform float64 draw equals p exactly "
        "(probability about 2**-53 per element): keeping with > is an equally correct Dropout",
    ),
    Equivalent(
        "05_autograd:matmul_backward:*:negation:*", "-1 -> 1",
        "in the branch for a 1-D left operand, left is reshaped to (1, k) first: for a 2-D array "
        "axis 1 is axis -1, so swapaxes(left, 1, -2) is swapaxes(left, -1, -2)",
        mutated_line="grad_b = np.matmul(np.swapaxes(left, 1, -2), grad)",
    ),
    Equivalent(
        "05_autograd:unbroadcast:*:comparison:*", "> -> >= in extra > 0",
        "with extra == 0 the mutant also runs grad.sum(axis=()), a sum over no axis: for an array "
        "with at least one axis (the engine calls unbroadcast only when the shapes differ) it is an "
        "array equal to grad, with the same shape and dtype",
    ),
    Equivalent(
        "13_transformers:next_token_loss:*:constant:*", "1 -> 2",
        "reshape(-2, ...) is reshape(-1, ...): NumPy reads any negative size as the rest",
        mutated_line="*.reshape(-2*",
    ),
    Equivalent(
        "12_attention:scaled_dot_product_attention:*:constant:*", "0.0 -> 1.0",
        "the mask then adds 1 to every allowed score (and -inf to the blocked ones): softmax is "
        "unchanged by adding the same number to every entry of a row, so the weights are the same",
        mutated_line="blocked = np.where(mask, 1.0, -np.inf)*",
    ),
    Equivalent(
        "12_attention:MultiHeadAttention.forward:*:*:*", "*",
        "the mutant masks a single new query (T = 1) too; the causal mask's row for the last position allows every key, so "
        "masking it changes nothing and the output is the same",
        mutated_line="mask = self.causal_rows(start, x.shape?1?) if self.causal and x.shape?1? >= 1 else None",
    ),
    Equivalent(
        "12_attention:MultiHeadAttention.forward:*:*:*", "*",
        "the mutant tests the model width (always above 1) instead of T, so it masks a single new query too; the causal mask's row for the last position allows every key, so "
        "masking it changes nothing and the output is the same",
        mutated_line="mask = self.causal_rows(start, x.shape?1?) if self.causal and x.shape?2? > 1 else None",
    ),
    Equivalent(
        "12_attention:MultiHeadAttention.forward:*:*:*", "*",
        "the mutant masks a single new query (T = 1) too; the causal mask's row for the last position allows every key, so "
        "masking it changes nothing and the output is the same",
        mutated_line="mask = self.causal_rows(start, x.shape?1?) if self.causal and x.shape?1? > 0 else None",
    ),
    Equivalent(
        "10_tokenization:learn_merges:*:remove_statement:*", "removed 'pair_counts.pop(pair, None)'",
        "by then the incremental update has subtracted every occurrence of the merged pair (each "
        "merge removes the pairs it overlaps, the pair itself included), so its count is 0 and no "
        "heap entry for it is pushed or accepted: dropping the zero entry changes no merge",
    ),
    Equivalent(
        "10_tokenization:learn_merges:*:remove_statement:*", "removed 'changed.discard(pair)'",
        "the merged pair then stays among the changed pairs, but its count is 0 (see above), so "
        "the loop that re-queues changed pairs skips it: the same merges (checked on five texts)",
    ),
    Equivalent(
        "13_transformers:layer_norm_backward:*:off_by_one:*", "-1 on argument 1 of range(grad.ndim - 1)",
        "the same as the next entry: one axis fewer summed, and the engine's unbroadcast sums it",
        mutated_line="vector_axes = tuple(range(grad.ndim - 1 - 1))",
    ),
    Equivalent(
        "13_transformers:layer_norm_backward:*:constant:*", "1 -> 2",
        "summing the weight's and bias's gradients over one axis fewer leaves a gradient of shape "
        "(T, D) for a (D,) parameter; the engine sums every gradient back to its input's shape "
        "(autograd.unbroadcast), which adds the remaining axis: the same numbers",
        mutated_line="vector_axes = tuple(range(grad.ndim - 2))",
    ),
    Equivalent(
        "17_compression:smallest_magnitude_mask:*:comparison:*", "> -> >= in count > 0",
        "with count == 0 the mutant also runs keep[order[:0]] = False, which selects nothing: the "
        "mask stays all True",
    ),
    Equivalent(
        "17_compression:low_rank_linear:*:negation:*", "False -> True",
        "full_matrices=True only adds columns of U beyond min(in, out) (and rows of V^T); the "
        "factors use the first rank <= min(in, out) of them, which are the same",
        mutated_line="u, s, vt = np.linalg.svd(*, full_matrices=True)",
    ),
    Equivalent(
        "18_acceleration:matmul_loops:*:swap_function:*", "zeros(...) -> ones(...) in *",
        "every entry of out is assigned (out[i, j] = total) before it is read, so its starting "
        "value is never seen",
    ),
    Equivalent(
        "18_acceleration:matmul_tiled:*:off_by_one:*", "+1 on argument 2 of range(0, *, tile)",
        "one more start only when the size is a multiple of the tile, and then it starts at the "
        "end: the slices from there are empty, and adding an empty product changes nothing",
    ),
    Equivalent(
        "18_acceleration:fused_bias_gelu:*:off_by_one:*", "+1 on argument 2 of range(0, rows_in.shape?0?, block)",
        "one more block only when the rows are a multiple of the block, and it starts at the end: "
        "its slices are empty and it writes nothing",
    ),
    Equivalent(
        "14_generation:pick_next_token:*:negation:*", "-1 -> 1",
        "logits are (batch, vocab), always 2-D there, and so is every array computed from them: "
        "axis 1 is axis -1",
        mutated_line="*axis=1*",
    ),
    Equivalent(
        "14_generation:pick_next_token:*:negation:*", "-1 -> 1",
        "logits are (batch, vocab), always 2-D there: shape[1] is shape[-1]",
        mutated_line="*logits.shape?1? - 1)",
    ),
    Equivalent(
        "14_generation:pick_next_token:*:drop_keyword:*", "axis= dropped from np.sort(scaled, axis=-1)",
        "np.sort sorts along the last axis by default",
    ),
    Equivalent(
        "14_generation:pick_next_token:*:comparison:*", "<= -> < in cumulative <= draws",
        "the counts differ only when a uniform float64 draw times the total lands exactly on a "
        "cumulative sum (probability about 2**-53 per draw), as Dropout's >= against >",
    ),
    Equivalent(
        "14_generation:pick_next_token:*:*:*", "*",
        "the clamp to vocab - 1 guards the draw r * total with r < 1 from rounding up to the total "
        "(probability about 2**-53 per draw); loosening it by one changes nothing otherwise",
        mutated_line="return np.minimum((cumulative <= draws).sum(axis=-1), logits.shape?-1? [+-] [01])",
    ),
    Equivalent(
        "08_dataloader:RandomHorizontalFlip.__call__:*:comparison:*", "< -> <= in *",
        "random() <= p and random() < p differ only when a uniform float64 draw equals p exactly "
        "(probability about 2**-53 per image): flipping with <= is an equally correct transform",
    ),
    Equivalent(
        "08_dataloader:RandomCrop.__call__:*:constant:*", "0 -> 1",
        "the mutant pads one extra all-zero image at the end of the batch axis, but the crops are "
        "taken at windows[np.arange(count), ...], so that image is never read",
        mutated_line="padded = np.pad(images, ((0, 1), (0, 0), (p, p), (p, p)))",
    ),
    Equivalent(
        "09_spatial:batch_norm2d_backward:*:arithmetic:*", "// -> / in grad.size // grad.shape*",
        "grad.size is a multiple of grad.shape[1], so the true division gives the same count as a "
        "float, and dividing a float32 array by a Python float keeps float32 (NumPy 2's weak scalars)",
    ),
    Equivalent(
        "*:constant:*", "1 -> 2",
        "reshape(-2, ...) is reshape(-1, ...): NumPy reads any negative size as the rest of the elements",
        mutated_line="*.reshape(-2*",
    ),
    Equivalent(
        "*:constant:*", "1 -> 2",
        "reshape(..., -2) is reshape(..., -1): NumPy reads any negative size as the rest of the elements",
        mutated_line="*.reshape(*, -2)*",
    ),
)


def equivalence_reason(mutant_id: str, description: str, mutated_line: str = "") -> str | None:
    """Why the mutant is equivalent, or None when the table does not list it."""
    for entry in EQUIVALENT_MUTANTS:
        if (fnmatch.fnmatchcase(mutant_id, entry.id_pattern) and fnmatch.fnmatchcase(description, entry.description)
                and fnmatch.fnmatchcase(mutated_line, entry.mutated_line)):
            return entry.reason
    return None
