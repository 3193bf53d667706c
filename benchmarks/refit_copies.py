"""What a preprocess in front of a boosting model adds to a refit's memory at 1M rows.

    .venv/bin/python benchmarks/refit_copies.py [--rows 1000000] [--iterations 30]
                                                [--model hgb|lightgbm]
                                                [--strategies median mean]
                                                [--variants as_is ...] [--env NAME=VALUE]

The data is shipped as the engine ships it (a row-major float64 ``.npy`` mapped copy-on-write,
read as a DataFrame without a copy: engine._ship_data, _datafile). Each variant fits
``make_pipeline(<preprocess>, HistGradientBoostingClassifier(max_iter=N, early_stopping=False))``
(or, with ``--model lightgbm``, ``LGBMClassifier(n_estimators=N)``, the catalog's other
boosting model) on all rows in its own fresh process, with one thread for the numeric
libraries as in a worker, and reports the process's peak RSS (VmHWM, the mapped file's
pages included) above its RSS just before the fit. The variants:

- ``as_is``: the catalog's ``numbers_as_is`` (no preprocess);
- ``catalog_quantile``: the catalog's ``quantile_scaled`` for an all-numeric table (a
  ColumnTransformer over the numeric columns: SimpleImputer with missing-value indicators,
  then QuantileTransformer to a normal distribution);
- ``quantile_in_place``: the same with ``QuantileTransformer(copy=False)`` (its input is
  the imputer's own copy);
- ``no_column_transformer``: the single branch without the ColumnTransformer around it;
- ``no_ct_no_indicators``: and without the indicators (the table has no missing values,
  so they add no columns, but the imputer stacks an empty block onto its copy).

each with the imputer's ``median`` (the catalog's default) and ``mean`` (the search's other
choice): scikit-learn computes both through NumPy masked arrays over the whole table.
``--env NAME=VALUE`` sets an environment variable in every child, e.g. glibc's
``MALLOC_MMAP_THRESHOLD_=1048576`` (large blocks mapped and unmapped by themselves, so the
fit's freed arrays go back to the system at once); each child also reports its fit's seconds.

Output: a markdown table on stdout and ``benchmarks/results/refit_copies-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import _perf_common as pc

VARIANTS = ("as_is", "catalog_quantile", "quantile_in_place", "no_column_transformer",
            "no_ct_no_indicators")


def _preprocess(variant: str, columns: list[str], strategy: str):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, QuantileTransformer

    def imputer(indicators: bool = True) -> SimpleImputer:
        return SimpleImputer(strategy=strategy, add_indicator=indicators,
                             keep_empty_features=True)

    def quantile(**kwargs) -> QuantileTransformer:
        return QuantileTransformer(n_quantiles=100, output_distribution="normal",
                                   random_state=0, **kwargs)

    if variant == "as_is":
        return FunctionTransformer()
    if variant == "catalog_quantile":
        branch = make_pipeline(imputer(), quantile())
    elif variant == "quantile_in_place":
        branch = make_pipeline(imputer(), quantile(copy=False))
    elif variant == "no_column_transformer":
        return make_pipeline(imputer(), quantile(copy=False))
    elif variant == "no_ct_no_indicators":
        return make_pipeline(imputer(indicators=False), quantile(copy=False))
    else:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return ColumnTransformer([("numeric", branch, columns)], sparse_threshold=0)


def _model(name: str, iterations: int):
    if name == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=iterations, random_state=0, n_jobs=1, verbose=-1)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=iterations, early_stopping=False,
                                          random_state=0)


def _name_value(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` for ``--env``."""
    name, equals, value = text.partition("=")
    if not name or not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _child(variant: str, folder: Path, iterations: int, strategy: str, model_name: str,
           out: str) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline

    values = np.load(folder / "X.npy", mmap_mode="c")
    X = pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])], copy=False)
    y = np.load(folder / "y.npy")
    model = make_pipeline(_preprocess(variant, list(X.columns), strategy),
                          _model(model_name, iterations))
    before = pc.rss_bytes()
    pc.reset_high_water()
    began = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - began
    peak = max(pc.high_water_bytes(), pc.rss_bytes())
    pc.write_child_result(out, {"variant": variant, "strategy": strategy,
                                "rss_before_mb": before / 2**20, "peak_rss_mb": peak / 2**20,
                                "fit_adds_mb": (peak - before) / 2**20,
                                "fit_seconds": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--model", choices=["hgb", "lightgbm"], default="hgb")
    parser.add_argument("--strategies", nargs="+", default=["median", "mean"],
                        help="the imputer's strategies to measure (the catalog's default: "
                             "median; the search also tries mean)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        type=_name_value,
                        help="an environment variable for every child (repeatable)")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "FOLDER", "STRATEGY"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.iterations, args.child[2],
               args.model, args.child_out)
        return

    import numpy as np
    from sklearn.datasets import make_classification

    run = pc.new_run("refit_copies", sys.argv[1:])
    X, y = make_classification(n_samples=args.rows, n_features=20, n_informative=10,
                               n_redundant=4, random_state=0)
    table_mb = X.nbytes / 2**20
    extra_env = dict(args.env)
    run.update(rows=args.rows, iterations=args.iterations, model=args.model, table_mb=table_mb,
               env=extra_env)
    with tempfile.TemporaryDirectory(prefix="refit-copies-") as tmp:
        folder = Path(tmp)
        np.save(folder / "X.npy", np.ascontiguousarray(X, dtype=np.float64))
        np.save(folder / "y.npy", y)
        os.sync()  # the first child should not find the file's pages still being written
        del X, y
        env = pc.child_env(**pc.SINGLE_THREAD_ENV, **extra_env)
        for strategy in args.strategies:
            for variant in args.variants:
                if variant == "as_is" and strategy != args.strategies[0]:
                    continue  # no imputer: one measurement is enough
                record = pc.run_child([__file__, "--child", variant, str(folder), strategy,
                                       "--iterations", str(args.iterations),
                                       "--model", args.model],
                                      timeout=1800, env=env)
                run["measurements"].append(record)
                if record["status"] != "ok":
                    sys.exit(f"{variant}, {strategy}: {record['status']}\n"
                             f"{record.get('stderr_tail', '')}")
                print(f"  {variant}, {strategy}: +{record['fit_adds_mb']:.0f} MB",
                      file=sys.stderr)
    path = pc.finish(run)
    print(f"Run `{run['run_id']}`: {args.rows:,} rows x 20 float64 columns "
          f"({table_mb:.0f} MB), {args.model}, {args.iterations} iterations"
          + "".join(f", {name}={value}" for name, value in extra_env.items()) + ".\n")
    rows = [[r["variant"], "—" if r["variant"] == "as_is" else r["strategy"],
             f"{r['fit_adds_mb']:.0f}", f"{r['fit_adds_mb'] / table_mb:.2f}",
             f"{r['fit_seconds']:.1f}"]
            for r in run["measurements"]]
    print(pc.table([f"preprocess before {args.model}", "imputer",
                    "fit adds (peak RSS above the RSS before), MB", "× table", "fit s"], rows))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
