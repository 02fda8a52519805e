"""The ``gradhess`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import checking, hessians
from .objectives import OBJECTIVES
from .objectives._base import load


def _targets(names: list[str]):
    """Yield ``(label, class)`` for registry names and ``module:Class`` targets."""
    if not names:
        yield from OBJECTIVES.items()
        return
    for name in names:
        if name in OBJECTIVES:
            yield name, OBJECTIVES[name]
        elif ":" in name:
            yield name, load(name)
        else:
            raise ValueError(
                f"unknown objective {name!r}; registered: {', '.join(OBJECTIVES)} "
                f"(or give package.module:ClassName)"
            )


def _check(args) -> int:
    results = []
    errors = 0
    try:
        targets = list(_targets(args.objectives))
    except ValueError as exc:
        print(f"gradhess check: {exc}", file=sys.stderr)
        return 2
    for label, cls in targets:
        strategies = getattr(cls, "hessian_strategies", None)
        if strategies is None:
            # A class without Hessian strategies: check it as constructed by default.
            def factory(strategy, cls=cls):
                return cls()
            strategies = ("exact",)
        else:
            def factory(strategy, cls=cls):
                return cls(hessian=strategy)
        try:
            results += checking.check_objective(
                label, factory, strategies, is_multiclass=getattr(cls, "is_multiclass", True),
                n_rows=args.rows, classes=tuple(args.classes), seed=args.seed,
            )
        except Exception as exc:  # a user's class may fail in any way: report, go on
            print(f"gradhess check: {label} raised {type(exc).__name__}: {exc}", file=sys.stderr)
            errors += 1
    print(checking.format_table(results))
    failed = [r for r in results if not r.passed]
    print()
    if failed or errors:
        print(f"{len(failed)} of {len(results)} checks FAILED (tolerance {checking.FD_TOLERANCE:g})"
              + (f"; {errors} objective(s) raised an error" if errors else ""))
        if any(r.nonfinite for r in failed):
            print("A value not finite at the checked margins (up to +-1e3) counts as an infinite "
                  "error; a loss that is not finite there leaves the finite differences without a "
                  "reference (compute it stably, e.g. log-softmax by the log-sum-exp).")
        return 1
    print(f"all {len(results)} checks passed (tolerance {checking.FD_TOLERANCE:g})")
    return 0


def _demo(args) -> int:
    from . import demo

    demo.run(args.out, engines=args.engines, quick=args.quick, seed=args.seed)
    return 0


def _fit(args) -> int:
    from . import files

    proba = [c.strip() for c in args.proba_columns.split(",") if c.strip()] if args.proba_columns else None
    out = files.fit(args.data, objective=args.objective, engine=args.engine, out=args.out,
                    label=args.label, proba_columns=proba, weight=args.weight, hessian=args.hessian,
                    valid=args.valid, rounds=args.rounds, early_stopping=args.early_stopping)
    print(f"model written to {out}")
    return 0


def _predict(args) -> int:
    from . import files

    print(f"probabilities written to {files.predict(args.model, args.data, args.out)}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _class_count(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a class count must be at least 2; got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit code 2 (subcommand parsers inherit this)."""

    def error(self, message):
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(2)


def _bench(args) -> int:
    from . import bench

    bench.run(quick=args.quick, parts=args.parts, out=args.out, soft_rows=args.soft_rows,
              soft_rounds=args.soft_rounds)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradhess",
        description="Proper scoring rules as gradient-boosting objectives.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(
        "check",
        help="verify gradients and Hessians by finite differences",
        description=(
            "Verify every registered objective and Hessian strategy (or the ones named) "
            "by 4th-order central differences on random inputs: hard and soft labels, "
            "row weights, margins up to +-1e3. Prints a table; exits 1 if any check fails. "
            "Hessian strategies: " + ", ".join(hessians.STRATEGIES) + "."
        ),
    )
    check.add_argument(
        "objectives", nargs="*", metavar="OBJECTIVE",
        help="registry names, or package.module:ClassName for your own objective class "
             "with the same methods (default: every registered objective)",
    )
    check.add_argument("--rows", type=_positive_int, default=200,
                       help="rows per random problem (default 200)")
    check.add_argument("--classes", type=_class_count, nargs="+", default=[3, 10],
                       help="class counts K to try for softmax objectives (default 3 10)")
    check.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    check.set_defaults(func=_check)

    demo = sub.add_parser(
        "demo", help="distill an RBF SVM into boosted trees on the digits (offline)",
        description="Knowledge distillation on scikit-learn's handwritten digits: a teacher's class "
                    "probabilities train boosted students with gradhess objectives, against "
                    "built-in baselines. Writes report.md, metrics.json and reliability.png.")
    demo.add_argument("--out", default="gradhess-demo", help="report folder (default ./gradhess-demo)")
    demo.add_argument("--engines", nargs="+", choices=["xgboost", "lightgbm", "catboost"],
                      help="engines to run (default: XGBoost and LightGBM, those installed; "
                           "CatBoost runs Python objectives per object and takes minutes)")
    demo.add_argument("--quick", action="store_true", help="fewer rounds and a smaller transfer set")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit", help="train a model on a CSV or Parquet file",
        description="Train a boosted model with a gradhess objective on a CSV or Parquet file: hard "
                    "labels (--label) or probability columns (--proba-columns). Every other column "
                    "is a feature. Writes the engine's model file and metadata.json to --out.")
    fit.add_argument("data", help="training data (.csv, .parquet)")
    fit.add_argument("--objective", required=True, metavar="NAME",
                     help=f"a registered objective ({', '.join(sorted(OBJECTIVES))}) or "
                          f"package.module:ClassName, an objective class of one's own")
    fit.add_argument("--engine", required=True, choices=["xgboost", "lightgbm", "catboost"])
    labels = fit.add_mutually_exclusive_group(required=True)
    labels.add_argument("--label", metavar="COLUMN", help="column of class labels")
    labels.add_argument("--proba-columns", metavar="C1,C2,...",
                        help="columns holding each row's class probabilities (soft labels)")
    fit.add_argument("--weight", metavar="COLUMN", help="column of row weights")
    fit.add_argument("--hessian", choices=hessians.STRATEGIES, help="Hessian strategy (default: the objective's)")
    fit.add_argument("--valid", metavar="DATA", help="validation data, for the metric and early stopping")
    fit.add_argument("--rounds", type=_positive_int, default=100, help="boosting rounds (default 100)")
    fit.add_argument("--early-stopping", type=_positive_int, metavar="N",
                     help="stop after N rounds without improvement")
    fit.add_argument("--out", required=True, metavar="DIR", help="model directory")
    fit.set_defaults(func=_fit)

    predict = sub.add_parser(
        "predict", help="write class probabilities for a data file",
        description="Predict class probabilities with a model directory written by gradhess fit.")
    predict.add_argument("model", metavar="DIR", help="model directory from gradhess fit")
    predict.add_argument("data", help="data to predict (.csv, .parquet)")
    predict.add_argument("--out", required=True, metavar="FILE", help="output file (.csv, .parquet)")
    predict.set_defaults(func=_predict)

    bench = sub.add_parser(
        "bench", help="measure costs side by side (kernels, engines, CatBoost, soft labels, "
                      "evaluation sets)",
        description="Side-by-side measurements in one process, alternating repeats, medians: "
                    "compiled kernels against the NumPy kernels, a streaming-copy floor and "
                    "XGBoost's own gradient; end-to-end training against the built-in objectives "
                    "of XGBoost and LightGBM; CatBoost with a gradhess objective against its "
                    "built-in MultiClass and against an objective doing no work; soft labels "
                    "against row replication; training with an evaluation set against the built-in "
                    "objective and metric. Prints Markdown; --out writes bench.md and bench.json.")
    bench.add_argument("--quick", action="store_true", help="small sizes (under two minutes)")
    bench.add_argument("--parts", nargs="+",
                       choices=["kernels", "engines", "catboost", "soft", "metric"],
                       default=["kernels", "engines", "catboost", "soft", "metric"],
                       help="which measurements to run (default: all)")
    bench.add_argument("--out", metavar="DIR", help="also write bench.md and bench.json here")
    bench.add_argument("--soft-rows", type=_positive_int, metavar="N",
                       help="rows of the soft-label comparison (default 100000; --quick 5000)")
    bench.add_argument("--soft-rounds", type=_positive_int, metavar="R",
                       help="boosting rounds of the soft-label comparison (default 50; --quick 20)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    # An engine may turn the KeyboardInterrupt raised in a callback into an error of its own
    # (CatBoost does): the flag says it was an interrupt all the same.
    previous = signal.signal(signal.SIGINT, on_interrupt) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        if args.command == "check":
            return args.func(args)
        return args.func(args)
    except KeyboardInterrupt:
        print(f"gradhess {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # an engine's own error types included: one line, no traceback
        if interrupted:
            print(f"gradhess {args.command}: interrupted; nothing was written", file=sys.stderr)
            return 130
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gradhess {args.command}: {message}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
