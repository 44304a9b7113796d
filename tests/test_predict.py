"""`guardcal predict` on the embedded guards: the session's demo report's test split scored anew
through its calibrated-guard files must give back the run's predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from recompute import recompute_categories
from shipped_demo import FINE_TUNED, REPORT_LIMIT, ZERO_SHOT

from guardcal import records, scores
from guardcal.__main__ import main
from guardcal.calibration.methods import method_names
from guardcal.reporting import pipeline


@pytest.fixture(scope="module")
def demo_run(demo_report):
    """The session's demo report's run, and its test split as a records file of its own."""
    return demo_report.cfg, demo_report.test_records


CASES = [(FINE_TUNED, method, "file") for method in method_names(study=True)]
CASES += [(ZERO_SHOT, "ts", "file"), (ZERO_SHOT, "bc", "stdout"), (ZERO_SHOT, "platt", "file")]
"""Every study method on one guard, two and one beyond the study on the other (each call scores
the split anew: kept few; every calibrator's file round trip is in test_decisions)."""


@pytest.mark.parametrize(("model", "method", "output"), CASES)
def test_predict_reproduces_the_runs_predictions(
    demo_run, capsys, tmp_path, model, method, output
) -> None:
    cfg, new = demo_run
    out = tmp_path / f"{method}-{model}.jsonl"
    argv = ["predict", "--run", str(cfg.run_dir), "--model", model, "--method", method]
    assert main([*argv, *(["-o", str(out)] if output == "file" else []), str(new)]) == 0
    if output == "stdout":
        out.write_text(capsys.readouterr().out, encoding="utf-8")
    got = pd.read_json(out, lines=True, dtype={"id": str})
    assert list(got.columns) == ["id", "logit_safe", "logit_unsafe", "p_unsafe", "verdict"]
    preds = pipeline.read_predictions(cfg)
    if method not in method_names(study=True):
        test = scores.read_scores(cfg, model, "test")
        fitted = pipeline.fit_run(cfg, [method])[model]
        p = fitted[method].predict_proba(pipeline.logits_of(test))[:, 1]
        preds = test.assign(model=model, method=method, proba_unsafe=p)
    want = preds[(preds["model"] == model) & (preds["method"] == method)]
    assert got["id"].tolist() == want["id"].tolist()
    np.testing.assert_allclose(got["p_unsafe"], want["proba_unsafe"], rtol=0, atol=1e-9)
    run_scores = scores.read_scores(cfg, model, "test")
    logits = ["logit_safe", "logit_unsafe"]
    np.testing.assert_allclose(got[logits], run_scores[logits], rtol=0, atol=1e-9)
    verdict = np.where(want["proba_unsafe"] >= 0.5, "unsafe", "safe")
    assert got["verdict"].tolist() == verdict.tolist()


def test_calibrated_guard_file_names_the_guard(demo_run) -> None:
    cfg, _ = demo_run
    for m in cfg.models:
        data = json.loads(cfg.layout.calibrator(m.name).read_text(encoding="utf-8"))
        meta = scores.read_meta(cfg.layout.scores(m.name, "validation"))
        assert data["guard"]["template_hash"] == meta["template_hash"]
        assert data["guard"]["verbalizer"] == meta["verbalizer"]
        assert data["model"]["model"] == m.model
        assert data["fitted_on"]["validation"] == REPORT_LIMIT
        assert set(data["calibrators"]) == set(method_names()) - {"uncalibrated"}


def test_demo_category_table_equals_a_recomputation(demo_run) -> None:
    cfg, _ = demo_run
    preds = pipeline.read_predictions(cfg)
    split = records.load_split(cfg, "test")
    want = recompute_categories(preds, split, cfg.calibration.ece_bins)
    got = pd.read_csv(cfg.layout.table("category_metrics"))
    assert len(got) > 0
    keys = ["model", "method", "category"]
    got, want = (t.sort_values(keys).reset_index(drop=True) for t in (got, want))
    pd.testing.assert_frame_equal(got, want, atol=1e-6, check_dtype=False)


def test_predict_refuses_a_record_too_long_for_the_guard(demo_run, capsys, tmp_path) -> None:
    """An input longer than the guard's context stops with its file and row, before any weights
    load (the tokenizer measures it), and leaves no output file."""
    cfg, _ = demo_run
    long = tmp_path / "long.jsonl"
    rows = [{"prompt": "Is this fine?"}, {"prompt": "word " * 40_000}]
    long.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "long-out.jsonl"
    argv = ["predict", "--run", str(cfg.run_dir), "--model", ZERO_SHOT, str(long), "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{long}, row 2" in err and "tokens, more than the" in err
    assert not out.exists()
