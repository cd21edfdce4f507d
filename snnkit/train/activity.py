"""Hidden-layer activity of the training forward pass, for losses and learning rules.

Regularisers need hidden spikes *with their graph* (a firing-rate penalty must back-propagate into
them) and Hebbian / dynamic-sparse-training rules need the pre- and post-synaptic activity of every
masked layer over time × batch — without running the network a second time. A
:class:`~snnkit.train.Callback` asks for it by overriding ``watch(model)`` to return module names (as
in ``model.named_modules()``) or the modules themselves; the :class:`~snnkit.train.Trainer` then puts a
forward hook on each and, during ``extra_loss``, ``on_after_backward`` and ``on_step_end`` of every
training step, ``trainer.activity[name]`` is an :class:`Activity` with

* ``.input``: the first positional argument of the module's forward,
* ``.output``: its output (the first element when it returns a tuple, e.g. ``(spikes, membrane)``),

as tensors still attached to the graph. A module called once per step (e.g. a ``LIF`` layer on
``[T, B, n]``) gives exactly what it saw; a module called once per time step (a ``Linear`` inside a
Python loop over ``t``) gives its calls stacked on a new leading dim: ``[T, B, in]`` and ``[T, B, out]``.
A callback that reads only a module's output says so by watching :class:`Output` ``(name)``: where every
callback watching a module does, its input is not kept (``.input`` then raises), and its hook is marked
:func:`~snnkit.neurons.buffers.input_blind`, so a neuron watched that way still takes a donated input over
(:func:`~snnkit.neurons.buffers.donate`: the hidden layers of ``ShdNet`` under the spike regulariser keep one
``[T, B, N]`` buffer less). The hooks record only inside the training forward (not in evaluation, nor in a
forward a callback runs itself), a watched module that did not run in that forward has no entry, and
``trainer.activity`` is emptied after ``on_step_end``, so nothing outlives its step.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnkit.errors import ConfigError
from snnkit.neurons.buffers import input_blind

__all__ = ["Activity", "ActivityRecorder", "Output"]


@dataclass(frozen=True)
class Output:
    """A watch item (``Callback.watch``): the module ``module`` (a name or the module), its output only."""

    module: str | nn.Module


def _stack(items: list[Any]) -> Any:
    if len(items) == 1:
        return items[0]
    if all(isinstance(x, Tensor) for x in items):
        return torch.stack(items)
    return list(items)


class Activity:
    """What one watched module saw (``input``) and produced (``output``) in the current training forward."""

    def __init__(self, name: str = "", keeps_input: bool = True) -> None:
        self.name, self.keeps_input = name, keeps_input
        self._inputs: list[Any] = []
        self._outputs: list[Any] = []

    @property
    def calls(self) -> int:
        """How many times the module ran in this forward (T for a per-time-step module)."""
        return len(self._outputs)

    @functools.cached_property
    def input(self) -> Any:
        """First positional input; several calls stacked on a new dim 0. Raises a RuntimeError where it was not
        kept (every callback watching the module asked for its :class:`Output` only)."""
        if not self.keeps_input:
            raise RuntimeError(f"the input of module {self.name!r} was not recorded: every callback watching it "
                               "asked for its output only (snnkit.train.activity.Output); watch the module by its "
                               "name (or the module itself) to keep its input")
        return _stack(self._inputs)

    @functools.cached_property
    def output(self) -> Any:
        """Output (first element of a tuple); several calls stacked on a new dim 0."""
        return _stack(self._outputs)

    def _record(self, args: tuple, output: Any) -> None:
        if self.keeps_input:
            self._inputs.append(args[0] if args else None)
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        self._outputs.append(output)


class ActivityRecorder:
    """Forward hooks on the watched modules of ``model``; records only while :attr:`recording` is True.

    ``watched`` holds names (``model.named_modules()`` keys) or modules of ``model``, or :class:`Output` of
    either (the output only; the input is kept where any item watches the module otherwise). Use as a context
    manager (hooks are removed on exit) or call :meth:`close`.
    """

    def __init__(self, model: nn.Module, watched: Iterable[str | nn.Module | Output]) -> None:
        by_name = dict(model.named_modules())
        name_of = {id(m): n for n, m in by_name.items()}
        self.modules: dict[str, nn.Module] = {}
        self.keeps_input: dict[str, bool] = {}
        for item in watched:
            whole = not isinstance(item, Output)
            item = item if whole else item.module
            if isinstance(item, nn.Module):
                if id(item) not in name_of:
                    raise ConfigError(
                        "watch", type(item).__name__, "modules of the trained model (or their names)"
                    )
                name = name_of[id(item)]
            elif isinstance(item, str) and item in by_name:
                name = item
            else:
                shown = [n for n in by_name if n][:12]
                raise ConfigError("watch", item, f"a module name of the model, e.g. one of {shown}")
            self.modules[name] = by_name[name]
            self.keeps_input[name] = self.keeps_input.get(name, False) or whole
        self.recording = False
        self.activity: dict[str, Activity] = {}
        self._handles = [
            module.register_forward_hook(self._hook(name, self.keeps_input[name]))
            for name, module in self.modules.items()
        ]

    def _hook(self, name: str, keeps_input: bool):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if self.recording:
                self.activity.setdefault(name, Activity(name, keeps_input))._record(args, output)

        return hook if keeps_input else input_blind(hook)

    def clear(self) -> None:
        """Forget the recorded activity (drops the references to the graph)."""
        self.activity = {}

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.clear()

    def __enter__(self) -> ActivityRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
