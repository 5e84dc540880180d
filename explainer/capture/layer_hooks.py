"""Hooks on one part of every layer, told apart by call order.

A family's block list (explainer/families.py) has one entry per layer call. Usually every entry is its own
module, but ALBERT runs one shared layer N times: hooking that module once per layer would fire every hook on
every call. Here each distinct module gets one hook, and its k-th call in a forward pass is the k-th layer that
lists it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch import nn

# (layer index, module, positional args, output) -> a replacement output or None
ForwardHook = Callable[[int, nn.Module, tuple[Any, ...], Any], Any]
# (layer index, module, positional args) -> replacement args or None
PreHook = Callable[[int, nn.Module, tuple[Any, ...]], Any]


def _layers_of(modules: Sequence[nn.Module]) -> list[tuple[nn.Module, list[int]]]:
    """Each distinct module once, with the layers (in order) whose calls it serves."""
    served: dict[int, tuple[nn.Module, list[int]]] = {}
    for layer, module in enumerate(modules):
        served.setdefault(id(module), (module, []))[1].append(layer)
    return list(served.values())


def _counter(layers: list[int]) -> Callable[[], int]:
    calls = [0]

    def next_layer() -> int:
        layer = layers[calls[0] % len(layers)]  # modulo: several forward passes under one registration
        calls[0] += 1
        return layer

    return next_layer


@contextlib.contextmanager
def forward_hooks(modules: Sequence[nn.Module], hook: ForwardHook) -> Iterator[None]:
    """`hook(layer, module, args, output)` after each call of modules[layer]; removed on exit, also on error."""
    handles = []
    try:
        for module, layers in _layers_of(modules):
            layer_of_call = _counter(layers)
            handles.append(module.register_forward_hook(lambda m, a, o, n=layer_of_call: hook(n(), m, a, o)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def forward_pre_hooks(modules: Sequence[nn.Module], hook: PreHook) -> Iterator[None]:
    """`hook(layer, module, args)` before each call of modules[layer]; removed on exit, also on error."""
    handles = []
    try:
        for module, layers in _layers_of(modules):
            layer_of_call = _counter(layers)
            handles.append(module.register_forward_pre_hook(lambda m, a, n=layer_of_call: hook(n(), m, a)))
        yield
    finally:
        for handle in handles:
            handle.remove()
