"""Minimal pytree helpers for nested dicts / lists / tuples of tensors (private).

torch_ref takes the same pytrees of parameters that jaxmath takes (e.g. a list of ``{"W", "b"}``
dicts); these helpers flatten them into one vector and back, like ``jax.flatten_util.ravel_pytree``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in a fixed order (dict keys sorted, as JAX orders them)."""
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in tree_leaves(tree[key])]
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    return [tree]


def tree_map(function: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``function`` to every leaf, keeping the structure (NamedTuples included)."""
    if isinstance(tree, dict):
        return {key: tree_map(function, value) for key, value in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(tree_map(function, item) for item in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(tree_map(function, item) for item in tree)
    return function(tree)


def ravel_tree(tree: Any) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """Flatten a tree of tensors into one 1-d tensor, and return the function that undoes it.

    As ``jax.flatten_util.ravel_pytree``: the flat tensor has the leaves' promoted dtype, and
    ``unravel`` gives each leaf back its own dtype."""
    leaves = tree_leaves(tree)
    shapes = [leaf.shape for leaf in leaves]
    dtypes = [leaf.dtype for leaf in leaves]
    sizes = [leaf.numel() for leaf in leaves]
    flat = torch.cat([leaf.reshape(-1) for leaf in leaves])

    def unravel(vector: torch.Tensor) -> Any:
        pieces = iter(
            piece.reshape(shape).to(dtype)
            for piece, shape, dtype in zip(torch.split(vector, sizes), shapes, dtypes, strict=True)
        )
        return _rebuild(tree, pieces)

    return flat, unravel


def _rebuild(tree: Any, pieces: Any) -> Any:
    if isinstance(tree, dict):
        rebuilt = {key: _rebuild(tree[key], pieces) for key in sorted(tree)}
        return {key: rebuilt[key] for key in tree}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_rebuild(item, pieces) for item in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(_rebuild(item, pieces) for item in tree)
    return next(pieces)
