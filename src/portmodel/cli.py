"""Command line: portmodel translate | weights | verify | port.

Exit codes: 0 clean; 1 findings (TODOs with --strict, --check would change files, a
verification FAIL); 2 usage error, bad input or internal error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from .errors import PortmodelError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("(", "").replace(")", "").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 28,28,1, got {text!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", choices=["torch", "keras"], default="torch", help="target framework")
    p.add_argument("--input-shape", type=_shape, help="input shape in the source layout, no batch (28,28,1)")


def _check_target(args) -> None:
    if args.to != "torch":
        raise PortmodelError("--to keras (PyTorch -> Keras) is not implemented yet; only --to torch works")


def _py_files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for p in paths:
        path = Path(p)
        if p == "-":
            files.append("-")
        elif path.is_dir():
            files += sorted(str(f) for f in path.rglob("*.py") if not any(part.startswith(".") for part in f.parts))
        elif path.exists():
            files.append(p)
        else:
            raise PortmodelError("file not found", p)
    return files


def cmd_translate(args) -> int:
    from .fsutil import write_text
    from .port import read_source
    from .translate import translate_source

    _check_target(args)
    files = _py_files(args.src)
    if args.in_place and args.output:
        raise PortmodelError("use either -o or --in-place, not both")
    if args.output and len(files) > 1 and args.output.endswith(".py"):
        raise PortmodelError("several inputs need an output folder, not a .py file", args.output)
    results, code = [], EXIT_OK
    for f in files:
        source = sys.stdin.read() if f == "-" else read_source(f)
        try:
            res = translate_source(source, "<stdin>" if f == "-" else f, input_shape=args.input_shape)
        except PortmodelError as exc:
            print(f"portmodel: error: {exc}", file=sys.stderr)
            code = EXIT_ERROR
            continue
        results.append((f, source, res))
        for d in res.diagnostics:
            print(d.format(), file=sys.stderr)
    todos = sum(len(r.todos) for _, _, r in results)
    if args.strict and todos:
        print(f"portmodel: {todos} TODO(s) with --strict: nothing written", file=sys.stderr)
        return EXIT_FINDINGS
    for f, source, res in results:
        changed = res.code != source
        if args.check or args.diff:
            if changed:
                code = max(code, EXIT_FINDINGS) if args.check else code
                if args.diff:
                    sys.stdout.writelines(
                        difflib.unified_diff(source.splitlines(True), res.code.splitlines(True), f, f)
                    )
            continue
        if args.in_place:
            if f != "-" and changed:
                write_text(f, res.code)
        elif args.output:
            target = Path(args.output)
            if not args.output.endswith(".py"):
                base = Path(args.src[0]) if Path(args.src[0]).is_dir() else Path(f).parent
                target = target / (Path(f).relative_to(base) if f != "-" else "model.py")
            if target.exists() and not args.force:
                raise PortmodelError("output exists; pass --force to overwrite it", str(target))
            write_text(target, res.code)
        else:
            sys.stdout.write(res.code)
    print(f"portmodel: {len(results)} file(s) translated, {todos} TODO(s)", file=sys.stderr)
    return code


def cmd_weights(args) -> int:
    from .loading import load_keras, load_torch_module, split_spec
    from .weights import save_state_dict, transfer

    _check_target(args)
    out = Path(args.output)
    if out.exists() and not args.force:
        raise PortmodelError("output exists; pass --force to overwrite it", str(out))
    if args.source and split_spec(args.source)[1]:
        keras_model = load_keras(args.source, args.checkpoint, args.input_shape)
    else:
        if not args.checkpoint.endswith(".keras"):
            raise PortmodelError(
                "a .weights.h5 checkpoint needs --source PATH.py:builder_or_class to build the model",
                args.checkpoint,
            )
        keras_model = load_keras(args.checkpoint, source=args.source)
    torch_model = load_torch_module(args.model)
    state = transfer(keras_model, torch_model)
    save_state_dict(state, str(out), force=True)
    print(f"portmodel: wrote {len(state)} tensors to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from .loading import load_keras, load_state_dict, load_torch_module
    from .verify import load_inputs, make_inputs, resolve_devices, verify
    from .weights import check_fits, transfer

    keras_model = load_keras(args.source, args.weights, args.input_shape)
    torch_model = load_torch_module(args.target)
    if args.target_weights:
        check_fits(torch_model, load_state_dict(args.target_weights), args.target_weights)
    else:
        torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    if args.inputs:
        inputs = load_inputs(args.inputs, keras_model, args.input_shape)
    else:
        inputs = make_inputs(keras_model, args.input_shape, seed=args.seed)
    results = verify(
        keras_model, torch_model, inputs, devices=resolve_devices(args.device),
        atol=args.atol, rtol=args.rtol, layers=args.per_layer,
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    for r in results:
        for o in r.outputs:
            verdict = "PASS" if o.passed else "FAIL"
            print(f"{r.device} {o.name} {tuple(o.shape)} max_abs={o.max_abs:.3e} max_rel={o.max_rel:.3e} {verdict}")
        if args.per_layer:
            d = r.first_divergence
            print(f"first diverging layer: {d['layer']} max_abs={d['max_abs']:.3e}" if d else "no layer diverges")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FINDINGS


def cmd_port(args) -> int:
    from .port import port
    from .verify import resolve_devices

    _check_target(args)
    report = port(
        args.src, args.output, weights=args.weights, model=args.model, input_shape=args.input_shape,
        devices=resolve_devices(args.device), atol=args.atol, rtol=args.rtol, force=args.force,
        inputs_path=args.inputs,
    )
    for res in report["verify"]:
        for o in res["outputs"]:
            print(f"{res['device']} {o['name']} max_abs={o['max_abs']:.3e} {'PASS' if o['passed'] else 'FAIL'}")
    for d in report["translation"]["todos"]:
        print(d, file=sys.stderr)
    print(f"portmodel: wrote {args.output}/model.py, model.safetensors, report.md, report.json")
    return EXIT_OK if report["passed"] else EXIT_FINDINGS


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
    t.set_defaults(func=cmd_translate)

    w = sub.add_parser("weights", help="convert a Keras checkpoint for the translated model")
    w.add_argument("checkpoint", help=".keras, or .weights.h5 with --source")
    _common(w)
    w.add_argument("--model", required=True, help="the port: PATH.py:ClassName")
    w.add_argument("--source", help="Keras source (PATH.py[:builder_or_class]); imported to build the model")
    w.add_argument("-o", "--output", required=True, help="model.safetensors or model.pt")
    w.add_argument("--force", action="store_true")
    w.set_defaults(func=cmd_weights)

    v = sub.add_parser("verify", help="run source and port on the same seeded inputs")
    v.add_argument("--source", required=True, help="keras:PATH.py:builder_or_class or a .keras file")
    v.add_argument("--target", required=True, help="torch:PATH.py:ClassName")
    v.add_argument("--weights", help="Keras checkpoint for the source (.keras / .weights.h5)")
    v.add_argument("--target-weights", help="state_dict for the port (default: converted from the source)")
    v.add_argument("--input-shape", type=_shape)
    _tolerances(v)
    v.add_argument("--per-layer", action="store_true", help="name the first layer whose output diverges")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("port", help="translate + weights + verify, with a report")
    p.add_argument("src")
    _common(p)
    p.add_argument("--weights", help="Keras checkpoint (.keras or .weights.h5)")
    p.add_argument("--model", help="which model, when the file defines several")
    p.add_argument("-o", "--output", required=True, help="output folder")
    _tolerances(p)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_port)
    return ap


def _tolerances(p) -> None:
    p.add_argument("--inputs", help="representative inputs: .npy (one input) or .npz (in input order)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="cpu")
    p.add_argument("--atol", type=float, default=1e-5)
    p.add_argument("--rtol", type=float, default=0.0)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PortmodelError as exc:
        print(f"portmodel: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
