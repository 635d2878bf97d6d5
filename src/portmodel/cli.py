"""Command line: portmodel translate | lint | weights | verify | port | convert.

Exit codes: 0 clean; 1 findings (lint findings, TODOs with --strict, --check would change
files, a verification FAIL); 2 usage error, bad input or internal error (in a run over many
files, a file that failed: the others are still done and written).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from .core.errors import PortmodelError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
_CONVERT_MODULES = {"onnx", "onnxruntime", "onnxscript", "onnx2tf", "tf2onnx", "ai_edge_litert", "tf_keras"}


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("(", "").replace(")", "").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 28,28,1, got {text!r}") from None


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to", choices=["torch", "keras"], help="target framework (default: the other one than the file imports)"
    )
    p.add_argument("--input-shape", type=_shape, help="input shape in the source layout, no batch (28,28,1)")


def cmd_translate(args) -> int:
    from .api import translate_many
    from .core.files import discover
    from .core.fsutil import write_text
    from .tree import migration_report, output_path, report_markdown

    files = discover(args.src)
    if args.output and len(files) > 1 and args.output.endswith(".py"):
        raise PortmodelError("several inputs need an output folder, not a .py file", args.output)
    outcomes = translate_many(files, to=args.to, input_shape=args.input_shape, jobs=args.jobs, engine=args.engine,
                              progress=sys.stderr.isatty())
    code = EXIT_OK
    for o in outcomes:
        if o.error:
            _print_error(o.error, o.traceback, args.verbose)
            code = EXIT_ERROR
        for d in o.diagnostics:
            print(d.format(), file=sys.stderr)
    ok = [o for o in outcomes if o.status != "failed"]
    todos = sum(d.severity == "todo" for o in ok for d in o.diagnostics)
    if args.strict and todos:
        print(f"portmodel: {todos} TODO(s) with --strict: nothing written", file=sys.stderr)
        return max(code, EXIT_FINDINGS)
    targets = []
    if args.output:
        single = len(files) == 1 and args.output.endswith(".py")
        packages = args.to == "keras"  # a package's files go to their place in it (relative imports hold)
        targets = [(o, Path(args.output) if single else output_path(o.path, args.src, args.output, packages))
                   for o in ok]
        existing = [str(t) for _, t in targets if t.exists()]
        if existing and not args.force:
            raise PortmodelError("output exists; pass --force to overwrite it", existing[0])
    for o in ok:
        changed = o.status == "converted"
        if args.check or args.diff:
            if changed and args.check:
                code = max(code, EXIT_FINDINGS)
            if changed and args.diff:
                sys.stdout.writelines(difflib.unified_diff(o.source.splitlines(True), o.code.splitlines(True), o.path, o.path))
        elif args.in_place:
            if changed and o.path != "-":
                write_text(o.path, o.code)
        elif not args.output:
            sys.stdout.write(o.code)
    for o, target in targets:
        write_text(target, o.code)
    if len(outcomes) > 1:
        for o in outcomes:
            n_todo = sum(d.severity == "todo" for d in o.diagnostics)
            print(f"{o.path}: {o.status}" + (f" ({o.layers} layers, {n_todo} TODO)" if o.status != "failed" else ""), file=sys.stderr)
    rep = migration_report(outcomes)
    if args.report:
        text = json.dumps(rep, indent=2) + "\n" if args.report.endswith(".json") else report_markdown(rep)
        write_text(args.report, text)
    percent = rep["percent_translated"]
    print(
        f"portmodel: {len(outcomes)} file(s): {rep['converted']} converted, {rep['unchanged']} unchanged, "
        f"{len(rep['failed'])} failed; {rep['layers_translated']} layers, {todos} TODO(s); "
        + ("nothing translated" if percent is None else f"{percent}% translated"),
        file=sys.stderr,
    )
    return code


def _print_error(error: str, tb: str | None, verbose: bool) -> None:
    """One line per failed file; an internal error's traceback with --verbose."""
    print(f"portmodel: error: {error}", file=sys.stderr)
    if tb and verbose:
        print(tb.rstrip("\n"), file=sys.stderr)


def cmd_lint(args) -> int:
    from .api import lint

    result = lint(
        args.paths, fix=args.fix, unsafe_fixes=args.unsafe_fixes, config=args.config, source=args.source,
        select=args.select, ignore=args.ignore, extend_select=args.extend_select,
    )
    results = result.files
    if args.statistics:
        sys.stdout.write(_statistics(result.statistics(), args.format))
    else:
        sys.stdout.write(result.render(args.format))
    errors = [r for r in results if r.error]
    for r in errors:
        _print_error(r.error, r.traceback, args.verbose)
    findings = len(result.findings)
    fixed = result.fixed
    if args.format == "text":
        print(f"portmodel: {findings} finding(s) in {len(results)} file(s)" + (f", {fixed} fixed" if fixed else ""), file=sys.stderr)
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if findings else EXIT_OK


def _statistics(rows: list[dict], fmt: str) -> str:
    """`--statistics`: findings per rule code, as ruff prints them (count, code, [*] where
    fixable, the check's name); JSON with --format json."""
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    width = max((len(str(r["count"])) for r in rows), default=1)
    return "".join(f"{r['count']:>{width}}\t{r['code']}\t{'[*] ' if r['fixable'] else ''}{r['name']}\n" for r in rows)


def cmd_weights(args) -> int:
    from .api import transfer_weights

    result = transfer_weights(
        args.checkpoint, args.output, model=args.model, to=args.to, source=args.source,
        input_shape=args.input_shape, force=args.force, trust_checkpoint=args.trust_checkpoint,
    )
    print(f"portmodel: {result.message}", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from .api import verify

    report = verify(
        args.source, args.target, weights=args.weights, target_weights=args.target_weights,
        input_shape=args.input_shape, inputs=args.inputs, device=args.device, atol=args.atol, rtol=args.rtol,
        per_layer=args.per_layer, seed=args.seed, trust_checkpoint=args.trust_checkpoint,
    )
    return _print_verify(args, report.results)


def _print_verify(args, results) -> int:
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    for r in results:
        for o in r.outputs:
            verdict = "PASS" if o.passed else "FAIL"
            print(f"{r.device} {o.name} {tuple(o.shape)} max_abs={o.max_abs:.3e} max_rel={o.max_rel:.3e} {verdict}")
        if args.per_layer:
            d = r.first_divergence
            where = f" (PyTorch: {d['torch']})" if d and d.get("torch") and d["torch"] != d["layer"] else ""
            print(f"first diverging layer: {d['layer']}{where} max_abs={d['max_abs']:.3e}" if d else "no layer diverges")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FINDINGS


def cmd_port(args) -> int:
    from .api import port
    from .port import parse_model_args, read_source
    from .translate import guess_target

    args.to = args.to or guess_target(read_source(args.src))
    report = port(
        args.src, args.output, to=args.to, weights=args.weights, model=args.model, input_shape=args.input_shape,
        device=args.device, atol=args.atol, rtol=args.rtol, force=args.force, inputs=args.inputs, dtype=args.dtype,
        trust_checkpoint=args.trust_checkpoint, engine=args.engine, model_args=parse_model_args(args.model_args),
    ).report
    if report.get("builder"):
        print(f"portmodel: engine code: built {report['builder']['call']}", file=sys.stderr)
    for res in report["verify"]:
        for o in res["outputs"]:
            print(f"{res['device']} {o['name']} max_abs={o['max_abs']:.3e} {'PASS' if o['passed'] else 'FAIL'}")
    for d in report["translation"]["todos"]:
        print(d, file=sys.stderr)
    weights = "model.weights.h5" if args.to == "keras" else "model.safetensors"
    if report.get("keras_file", {}).get("written"):
        weights += ", model.keras"
    print(f"portmodel: wrote {args.output}/model.py, {weights}, report.md, report.json")
    return EXIT_OK if report["passed"] else EXIT_FINDINGS


def cmd_convert(args) -> int:
    from .api import convert

    report = convert(
        args.src, args.to, args.output, weights=args.weights, input_shape=args.input_shape,
        inputs=args.inputs, quantize=args.quantize, keep_nchw=args.keep_nchw, exporter=args.exporter,
        atol=args.atol, rtol=args.rtol, seed=args.seed, force=args.force, trust_checkpoint=args.trust_checkpoint,
    ).report
    for s in report["stages"]:
        for o in s["outputs"]:
            verdict = "PASS" if o["passed"] else "FAIL"
            print(f"{s['name']:<22} {o['name']} max_abs={o['max_abs']:.3e} max_rel={o['max_rel']:.3e} {verdict}")
    if not report["passed"]:
        print(f"portmodel: stage {report['stopped_at']} is out of tolerance: only the report was written "
              f"to {args.output}", file=sys.stderr)
        return EXIT_FINDINGS
    files = [f for s in report["stages"] for f in s["files"] if not f.startswith("model.onnx") or "onnx" in args.to]
    print(f"portmodel: wrote {', '.join(files)}, report.md, report.json to {args.output}")
    return EXIT_OK


def _targets(text: str) -> list[str]:
    from .convert import TARGETS

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in names if t not in TARGETS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TARGETS)} (comma-separated), got {text!r}")
    return names


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="portmodel", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("translate", help="translate source statically (never runs it)")
    t.add_argument("src", nargs="+", help="files or folders ('-' for stdin)")
    _common(t)
    g = t.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", help="output .py file or folder")
    g.add_argument("--in-place", action="store_true", help="overwrite the inputs")
    g.add_argument("--diff", action="store_true", help="print a unified diff")
    g.add_argument("--check", action="store_true", help="exit 1 if a file would change")
    t.add_argument("--strict", action="store_true", help="exit 1 when anything is left as TODO")
    t.add_argument("--force", action="store_true", help="overwrite existing output files")
    t.add_argument("--jobs", "-j", type=int, help="processes for many files (default: all cores)")
    t.add_argument("--engine", choices=["auto", "first", "code"], help="Keras -> PyTorch translator: auto (default: "
                   "the first engine, or the code-directed one where the first leaves TODOs and it fewer), first, "
                   "code (builders and helpers as nn.Module classes for every value of their arguments: "
                   "docs/keras_to_torch.md)")
    t.add_argument("--report", help="migration report: .md or .json")
    _verbose(t)
    t.set_defaults(func=cmd_translate)

    lint = sub.add_parser("lint", help="flag old-framework code and numeric traps (pre-commit hook)")
    lint.add_argument("paths", nargs="+", help="files or folders")
    lint.add_argument("--fix", action="store_true", help="apply safe fixes")
    lint.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes (translation)")
    lint.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text")
    lint.add_argument("--config", help="folder or file to find pyproject.toml from (default: .)")
    lint.add_argument("--from", dest="source", choices=["keras", "torch"], help="override [tool.portmodel] from")
    lint.add_argument("--select", type=_codes, help="rule codes or prefixes to check (replaces the config's; PM3,PM100)")
    lint.add_argument("--ignore", type=_codes, help="rule codes or prefixes not to check")
    lint.add_argument("--extend-select", type=_codes, help="rule codes or prefixes to check besides the selected")
    lint.add_argument("--statistics", action="store_true", help="count the findings per rule code instead")
    _verbose(lint)
    lint.set_defaults(func=cmd_lint)

    w = sub.add_parser("weights", help="carry a checkpoint between a Keras model and its port")
    w.add_argument(
        "checkpoint",
        help="--to torch: .keras, or .weights.h5 with --source; --to keras: the port's .safetensors/.pt",
    )
    _common(w)
    w.add_argument("--model", required=True, help="the port: PATH.py:ClassName")
    w.add_argument("--source", help="Keras source (PATH.py[:builder_or_class]); imported to build the model")
    w.add_argument("-o", "--output", required=True, help="--to torch: .safetensors/.pt; --to keras: .weights.h5/.keras")
    w.add_argument("--force", action="store_true")
    _trust(w)
    w.set_defaults(func=cmd_weights)

    v = sub.add_parser("verify", help="run source and port on the same seeded inputs")
    v.add_argument(
        "--source", required=True, help="keras:PATH.py:builder_or_class, a .keras file, or torch:PATH.py:Class"
    )
    v.add_argument("--target", required=True, help="the port: torch:PATH.py:Class (or keras:PATH.py:Class)")
    v.add_argument("--weights", help="checkpoint for the source (.keras / .weights.h5, or .pt / .safetensors)")
    v.add_argument("--target-weights", help="weights for the port (default: converted from the source)")
    v.add_argument("--input-shape", type=_shape)
    _tolerances(v)
    v.add_argument("--per-layer", action="store_true", help="name the first layer whose output diverges")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--json", action="store_true")
    _trust(v)
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("port", help="translate + weights + verify, with a report")
    p.add_argument("src")
    _common(p)
    p.add_argument("--weights", help="source checkpoint: .keras / .weights.h5, or .pt / .safetensors with --to keras")
    p.add_argument("--model", help="which model, when the file defines several")
    p.add_argument(
        "--engine", choices=["auto", "first", "code"], default="auto",
        help="Keras -> PyTorch translator: auto (default: the first engine, else the code-directed one where "
        "the first finds no such model or leaves a TODO and the code engine ports it cleanly), first, code",
    )
    p.add_argument(
        "--model-args", nargs="+", metavar="NAME=VALUE",
        help="arguments the builder's checkpoint was built with, beyond those read from it (code engine): "
        "include_top=False pooling=avg alpha=0.25 (Python literals; a bare word is a string)",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    _tolerances(p)
    p.add_argument("--force", action="store_true")
    p.add_argument(
        "--dtype", choices=["float16", "bfloat16", "float32", "float64"],
        help="cast the weights (default: keep the checkpoint's dtype; a cast is reported)",
    )
    _trust(p)
    p.set_defaults(func=cmd_port)

    c = sub.add_parser("convert", help="a trained model to another runtime through ONNX, every stage verified")
    c.add_argument(
        "src", help="PATH.py:Class (nn.Module or Keras), .pt2, TorchScript .pt, .keras, a SavedModel folder or .onnx"
    )
    c.add_argument(
        "--to", type=_targets, required=True,
        help="onnx, saved_model, tflite, keras, torch, safetensors (comma-separated for several)",
    )
    c.add_argument("--weights", help="checkpoint for a PATH.py source (.pt / .safetensors, .weights.h5 / .keras)")
    c.add_argument("--input-shape", type=_shape, help="source layout, no batch (3,224,224); the batch stays dynamic")
    c.add_argument("-o", "--output", required=True, help="output folder")
    c.add_argument("--quantize", action="append", default=[], choices=["float16", "dynamic-int8"],
                   help="also write a quantized TFLite model (repeatable)")
    c.add_argument("--keep-nchw", action="store_true",
                   help="TensorFlow and Keras targets keep the channels-first inputs (Keras: and outputs)")
    c.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                   help="torch.onnx exporter (dynamo falls back to TorchScript when it fails)")
    c.add_argument("--inputs", help="representative inputs: .npy (one input) or .npz (in input order)")
    c.add_argument("--atol", type=float, default=1e-4)
    c.add_argument("--rtol", type=float, default=0.0)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--force", action="store_true")
    _trust(c)
    c.set_defaults(func=cmd_convert)
    return ap


def _verbose(p) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="print the traceback of an internal error")


def _trust(p) -> None:
    p.add_argument(
        "--trust-checkpoint", action="store_true",
        help="unpickle .pt/.pth checkpoints fully and load .keras files without safe_mode: only for files "
        "you trust (both can run code)",
    )


def _tolerances(p) -> None:
    p.add_argument("--inputs", help="representative inputs: .npy (one input) or .npz (in input order)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="cpu")
    p.add_argument("--atol", type=float, default=1e-5)
    p.add_argument("--rtol", type=float, default=0.0)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .loading import TRUST_CHECKPOINTS

    token = TRUST_CHECKPOINTS.set(getattr(args, "trust_checkpoint", False))
    try:
        return args.func(args)
    except PortmodelError as exc:
        print(f"portmodel: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing.startswith("portmodel"):  # our own bug, not a missing package
            raise
        extra = "convert" if missing.split(".")[0] in _CONVERT_MODULES else "run"
        print(
            f"portmodel: error: this command runs models and needs the runtime ({missing} is missing): "
            f"pip install 'portmodel[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    finally:
        TRUST_CHECKPOINTS.reset(token)


if __name__ == "__main__":
    sys.exit(main())
