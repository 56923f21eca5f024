"""The TinyTorch contender of the SGD workloads (``bench_mlp``, ``bench_cnn``): one training
step of a model that starts from given weights, written once so the two benchmarks time the
same framework code."""


def tinytorch_sgd_step(model, weights, x, y, lr):
    """A ``step()`` doing forward, cross-entropy, backward and an SGD update of ``model``
    (loaded with ``weights``, in ``named_parameters`` order) on the batch ``(x, y)``; it
    returns the loss."""
    from tinytorch import Tensor
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    model.load_state_dict(dict(zip((name for name, _ in model.named_parameters()), weights)))
    optimizer, loss_fn = SGD(model.parameters(), lr=lr), CrossEntropyLoss()
    inputs = Tensor(x)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), y)
        loss.backward()
        optimizer.step()
        return loss

    return step
