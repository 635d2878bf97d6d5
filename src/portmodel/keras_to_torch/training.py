"""Training code around a translated Keras model -> plain PyTorch (`rules/training/`).

`model.compile(optimizer=..., loss=..., metrics=["accuracy"])` becomes the torch.optim
optimizer its rule writes (every Keras default written out: they differ from torch's), a
loss function from the loss rule (Keras' cross-entropies take probabilities unless
from_logits=True), and the metrics; `model.fit`, `model.evaluate` and `model.predict`
become calls of `fit`, `evaluate` and `predict`, a plain training loop written once into
the file (TRAINING_LOOP). Only variables bound to a model this file translates are
rewritten; what a rule cannot say (callbacks, other metrics, a loss function of the user's)
stays as written under a TODO, never half-translated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..core.rules import LossRule, RuleSet
from ..core.templates import fill
from .hooks import Untranslatable
from .values import code, single

FIT_ARGS = ("batch_size", "epochs", "verbose", "validation_split", "validation_data", "shuffle")
EVALUATE_ARGS = ("batch_size", "verbose")
PREDICT_ARGS = ("batch_size", "verbose")
ACCURACY = ("accuracy", "acc")


@dataclass
class Compiled:
    """What `model.compile(...)` set up, under the names it is bound to in the port."""

    optimizer: str
    loss: str
    metrics: str | None


@dataclass
class TrainingCode:
    """Per file: the loss/metric functions and whether the training loop is needed."""

    rules: RuleSet
    names: object  # KerasNames
    functions: dict[str, str] = field(default_factory=dict)  # generated function name -> source
    loop: bool = False

    def helpers(self) -> str:
        """Source to add to the file (empty when no training code was translated)."""
        parts = list(self.functions.values())
        if self.loop:
            parts.append(TRAINING_LOOP)
        return "\n\n\n".join(p.strip("\n") for p in parts)

    # -- compile ----------------------------------------------------------------------------
    def optimizer(self, node: cst.BaseExpression, model: str) -> str:
        """The torch.optim constructor for compile's `optimizer=` (a string id or a class)."""
        if isinstance(node, cst.SimpleString):
            name, call = node.evaluated_value, None
        elif isinstance(node, cst.Call) and (self.names.of(node.func) or "").startswith("keras.optimizers."):
            name, call = self.names.of(node.func).rsplit(".", 1)[1], node
        else:
            raise Untranslatable(f"optimizer '{code(node)}' is not one the training rules read")
        rule = self.rules.optimizers.get(name)
        if rule is None:
            raise Untranslatable(f"optimizer {name} has no rule in rules/training/ yet")
        given: dict[str, str] = {}
        for i, arg in enumerate(call.args if call else ()):
            key = arg.keyword.value if arg.keyword else (rule.signature[i] if i < len(rule.signature) else None)
            if key not in rule.signature:
                raise Untranslatable(f"argument '{key or code(arg.value)}' of {name} is not in its rule")
            given[key] = code(arg.value)
        template = next((t for a, t in rule.when_given.items() if a in given), rule.torch)
        texts = {**rule.keras_defaults, **given, "params": f"{model}.parameters()"}
        try:
            return fill(template, texts, set(given))
        except KeyError as exc:
            raise Untranslatable(f"{name}: no value for {exc.args[0]} (give it explicitly)") from None

    def loss(self, node: cst.BaseExpression) -> tuple[str, LossRule, bool]:
        """(generated loss function's name, its rule, whether the model gives logits)."""
        logits = False
        if isinstance(node, cst.SimpleString):
            name = node.evaluated_value
        elif isinstance(node, cst.Call) and (self.names.of(node.func) or "").startswith("keras.losses."):
            name = self.names.of(node.func).rsplit(".", 1)[1]
            for arg in node.args:
                if arg.keyword is None or arg.keyword.value != "from_logits" or code(arg.value) not in ("True", "False"):
                    raise Untranslatable(f"argument '{code(arg)}' of {name} is not translated yet")
                logits = code(arg.value) == "True"
        else:
            raise Untranslatable(f"loss '{code(node)}' is not one the training rules read")
        rule = self.rules.losses.get(name)
        if rule is None:
            raise Untranslatable(f"loss {name} has no rule in rules/training/ yet")
        template = rule.torch or (rule.from_logits if logits else rule.from_probabilities)
        fn = rule.keras[0] + ("_from_logits" if logits and rule.torch is None else "")
        what = "logits" if logits else "probabilities"
        doc = f"Keras' {rule.keras[0]!r} loss" + ("" if rule.torch else f" on the model's {what}")
        self.function(fn, doc + ", averaged over the batch.", fill(template, _io(rule), set()))
        return fn, rule, logits

    def metrics(self, node: cst.BaseExpression | None, loss: LossRule) -> str | None:
        """`{"accuracy": <function>}` for compile's metrics (only accuracy is translated)."""
        if node is None:
            return None
        if not isinstance(node, cst.List | cst.Tuple):
            raise Untranslatable("metrics must be a literal list")
        names = [el.value.evaluated_value if isinstance(el.value, cst.SimpleString) else None for el in node.elements]
        if any(n not in ACCURACY for n in names):
            raise Untranslatable(f"metrics other than accuracy ({code(node)}) are not translated yet")
        if not names:
            return None
        if loss.accuracy is None:
            raise Untranslatable(f"accuracy for the loss {loss.keras[0]} is not defined in its rule")
        fn = f"{loss.keras[0].removesuffix('_crossentropy')}_accuracy"
        body = fill(loss.accuracy, _io(loss), set()) + ".float().mean()"
        self.function(fn, f"Keras' accuracy for {loss.keras[0]}: the fraction of samples right.", body)
        return "{" + ", ".join(f'"{n}": {fn}' for n in names) + "}"

    def function(self, name: str, doc: str, expr: str) -> None:
        self.functions[name] = f'def {name}(output, target):\n    """{doc}"""\n    return {expr}\n'


def _io(rule: LossRule) -> dict[str, str]:
    cast = "long" if rule.target == "int64" else "float"
    return {"output": "output", "target": f"target.{cast}()"}


class TrainingRewriter(cst.CSTTransformer):
    """compile/fit/evaluate/predict on variables bound to translated models, in one function
    body or the module's top level (each scope tracks its own model variables)."""

    def __init__(self, fx, training: TrainingCode, models: set[str]):
        self.fx = fx
        self.training = training
        self.models = models  # builder functions and classes this file's translation wrote
        self.scopes: list[dict] = [{"models": set(), "compiled": {}}]

    # scopes ------------------------------------------------------------------------------
    def visit_FunctionDef(self, node) -> bool:
        self.scopes.append({"models": set(), "compiled": {}})
        return True

    def leave_FunctionDef(self, original, updated):
        self.scopes.pop()
        return updated

    def visit_ClassDef(self, node) -> bool:
        return False

    @property
    def scope(self) -> dict:
        return self.scopes[-1]

    # statements -----------------------------------------------------------------------------
    def leave_SimpleStatementLine(self, original, updated):
        small = single(original)
        if (
            isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Name)
            and small.value.func.value in self.models
        ):
            self.scope["models"].add(small.targets[0].target.value)
            return updated
        try:
            if isinstance(small, cst.Expr) and self._method(small.value) == "compile":
                return cst.FlattenSentinel(self.compile(original, small.value))
            if isinstance(small, cst.Expr) and _keras_compile(small.value):
                raise Untranslatable(f"'{code(small.value.func.value)}' is not built by a model of this file: its "
                                     "Keras training code is left as written (translate the file that builds it)")
            return updated.visit(_Calls(self))
        except Untranslatable as exc:
            self.fx.diag(original, str(exc))
            comment = cst.EmptyLine(comment=cst.Comment(f"# portmodel: TODO {exc}"))
            return original.with_changes(leading_lines=[*original.leading_lines, comment])

    def _method(self, call) -> str | None:
        """'fit' for `model.fit(...)` on a model variable of this scope, else None."""
        if (
            isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name)
            and call.func.value.value in self.scope["models"]
            and call.func.attr.value in ("compile", "fit", "evaluate", "predict")
        ):
            return call.func.attr.value
        return None

    def compile(self, stmt, call: cst.Call) -> list[cst.BaseStatement]:
        model = call.func.value.value
        args = _keywords(call, ("optimizer", "loss", "metrics"), "compile")
        if "optimizer" not in args or "loss" not in args:
            raise Untranslatable("compile() without an optimizer and a loss is not translated")
        optimizer = self.training.optimizer(args["optimizer"], model)
        loss, rule, _ = self.training.loss(args["loss"])
        metrics = self.training.metrics(args.get("metrics"), rule)
        prefix = "" if model == "model" else f"{model}_"
        names = Compiled(f"{prefix}optimizer", f"{prefix}loss_fn", f"{prefix}metrics" if metrics else None)
        self.scope["compiled"][model] = names
        lines = [f"{names.optimizer} = {optimizer}", f"{names.loss} = {loss}"]
        if metrics:
            lines.append(f"{names.metrics} = {metrics}")
        out = [cst.parse_statement(line + "\n") for line in lines]
        out[0] = out[0].with_changes(leading_lines=stmt.leading_lines)
        return out

    def call(self, call: cst.Call, method: str) -> cst.Call:
        """fit/evaluate/predict(...) -> the training loop's function."""
        model = call.func.value.value
        self.training.loop = True
        compiled = self.scope["compiled"].get(model)
        allowed = {"fit": FIT_ARGS, "evaluate": EVALUATE_ARGS, "predict": PREDICT_ARGS}[method]
        positional = [a for a in call.args if a.keyword is None]
        keywords = [a for a in call.args if a.keyword is not None]
        for a in keywords:
            if a.keyword.value not in (*allowed, "x", "y"):
                raise Untranslatable(f"{method}() argument '{a.keyword.value}' is not translated yet")
        if method == "predict":
            head = [model]
        elif compiled is None:
            raise Untranslatable(f"{model}.{method}() without {model}.compile() in the same scope is not translated")
        else:
            head = [model, compiled.optimizer, compiled.loss] if method == "fit" else [model, compiled.loss]
        text = ", ".join([*head, *(code(a.value) for a in positional),
                          *(f"{a.keyword.value}={code(a.value)}" for a in keywords)])
        if compiled is not None and compiled.metrics and method != "predict":
            text += f", metrics={compiled.metrics}"
        return cst.parse_expression(f"{method}({text})")


class _Calls(cst.CSTTransformer):
    def __init__(self, rewriter: TrainingRewriter):
        self.rewriter = rewriter

    def leave_Call(self, original, updated):
        method = self.rewriter._method(original)
        if method is None:
            return updated
        if method == "compile":
            raise Untranslatable("compile() inside an expression is not translated")
        return self.rewriter.call(updated, method)


def _keras_compile(call) -> bool:
    """`anything.compile(optimizer=..., loss=...)`: Keras training code, whatever the receiver."""
    return (
        isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "compile"
        and any(a.keyword is not None and a.keyword.value in ("optimizer", "loss") for a in call.args)
    )


def _keywords(call: cst.Call, order: tuple[str, ...], what: str) -> dict[str, cst.BaseExpression]:
    out = {}
    for i, arg in enumerate(call.args):
        key = arg.keyword.value if arg.keyword else (order[i] if i < len(order) else None)
        if key not in order:
            raise Untranslatable(f"{what}() argument '{key or code(arg.value)}' is not translated yet")
        out[key] = arg.value
    return out


TRAINING_LOOP = '''
class History:
    """What Keras' fit() returns: history.history maps each metric to its per-epoch values."""

    def __init__(self):
        self.history = {}


def _tensors(arrays, images=False):
    """Arrays as torch tensors (floats as float32); with images, inputs of rank 4 or 5 are
    moved channels-first, as the port takes them (Keras data is channels-last)."""
    if isinstance(arrays, list | tuple):
        return tuple(_tensors(a, images) for a in arrays)
    t = torch.as_tensor(arrays)
    t = t.float() if t.is_floating_point() else t
    if images and t.dim() in (4, 5):
        t = t.movedim(-1, 1)
    return t


def _batches(x, y, size, order):
    for start in range(0, len(order), size):
        index = order[start:start + size]
        xb = tuple(a[index] for a in x) if isinstance(x, tuple) else (x[index],)
        yield xb, y[index] if y is not None else None


def evaluate(model, loss_fn, x, y, batch_size=32, verbose=0, metrics=None):
    """Keras' evaluate(): the mean loss (and metrics) over `x`, batch by batch."""
    return _evaluate(model, loss_fn, _tensors(x, images=True), _tensors(y), batch_size, metrics)


def _evaluate(model, loss_fn, x, y, batch_size, metrics):
    model.eval()
    totals, seen = {"loss": 0.0, **dict.fromkeys(metrics or {}, 0.0)}, 0
    with torch.no_grad():
        for xb, yb in _batches(x, y, batch_size, torch.arange(len(y))):
            output = model(*xb)
            totals["loss"] += loss_fn(output, yb).item() * len(yb)
            for name, fn in (metrics or {}).items():
                totals[name] += fn(output, yb).item() * len(yb)
            seen += len(yb)
    values = [v / seen for v in totals.values()]
    return values if metrics else values[0]


def fit(model, optimizer, loss_fn, x, y, batch_size=32, epochs=1, verbose=1, validation_split=0.0,
        validation_data=None, shuffle=True, metrics=None):
    """Keras' fit() as a plain PyTorch loop: shuffled mini-batches, one optimizer step each;
    per epoch the mean loss and metrics (and their val_ ones) go to history.history.
    validation_split takes the last samples before shuffling, as Keras does."""
    x, y = _tensors(x, images=True), _tensors(y)
    if validation_data is not None:
        validation_data = (_tensors(validation_data[0], images=True), _tensors(validation_data[1]))
    elif validation_split:
        cut = int(len(y) * (1 - validation_split))
        validation_data = (tuple(a[cut:] for a in x) if isinstance(x, tuple) else x[cut:], y[cut:])
        x, y = tuple(a[:cut] for a in x) if isinstance(x, tuple) else x[:cut], y[:cut]
    history = History()
    for epoch in range(epochs):
        model.train()
        totals, seen = {"loss": 0.0, **dict.fromkeys(metrics or {}, 0.0)}, 0
        order = torch.randperm(len(y)) if shuffle else torch.arange(len(y))
        for xb, yb in _batches(x, y, batch_size, order):
            output = model(*xb)
            loss = loss_fn(output, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                totals["loss"] += loss.item() * len(yb)
                for name, fn in (metrics or {}).items():
                    totals[name] += fn(output, yb).item() * len(yb)
            seen += len(yb)
        logs = {name: total / seen for name, total in totals.items()}
        if validation_data is not None:
            val = _evaluate(model, loss_fn, *validation_data, batch_size, metrics)
            logs.update({f"val_{name}": v for name, v in zip(logs, val if metrics else [val])})
        for name, value in logs.items():
            history.history.setdefault(name, []).append(value)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    return history


def predict(model, x, batch_size=32, verbose=0):
    """Keras' predict(): the model's outputs over `x` as a numpy array, batch by batch."""
    x = _tensors(x, images=True)
    model.eval()
    n = len(x[0]) if isinstance(x, tuple) else len(x)
    with torch.no_grad():
        outputs = [model(*xb) for xb, _ in _batches(x, None, batch_size, torch.arange(n))]
    return torch.cat(outputs).numpy()
'''
