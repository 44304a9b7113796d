"""`guardcal predict` on the embedded guards: a small demo run, then its test split scored anew
through the calibrated-guard files must give back the run's predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import FINE_TUNED, ZERO_SHOT

from guardcal import records, scores
from guardcal.__main__ import main
from guardcal.calibration.methods import method_names
from guardcal.config import DEMO_CONFIG
from guardcal.extraction import run_extraction
from guardcal.reporting import decisions, pipeline

LIMIT = 6
"""Rows per split: both labels occur in the first six of each demo split."""


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The demo config on its first LIMIT rows, scored, tuned and evaluated; and its test split
    as a records file of its own."""
    tmp = tmp_path_factory.mktemp("predict")
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw.update(name="predict-test", reports_dir=str(tmp / "reports"))
    raw["dataset"]["limit"] = LIMIT
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = pipeline.run_config(path)
    run_extraction(cfg)
    pipeline.tune(cfg)
    pipeline.evaluate_run(cfg)
    decisions.write_decision_tables(cfg)
    test_file = records.resolve_path(cfg.dataset.test.path, None)
    lines = test_file.read_text(encoding="utf-8").splitlines()[:LIMIT]
    new = tmp / "new.jsonl"
    new.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return cfg, new


CASES = [(FINE_TUNED, method, "file") for method in method_names(study=True)]
CASES += [(ZERO_SHOT, "ts", "file"), (ZERO_SHOT, "bc", "stdout"), (ZERO_SHOT, "platt", "file")]
"""Every study method on one guard, two and one beyond the study on the other (each call scores
the split anew: kept few; every calibrator's file round trip is in test_decisions)."""


@pytest.mark.model
@pytest.mark.parametrize(("model", "method", "output"), CASES)
def test_predict_reproduces_the_runs_predictions(demo_run, capsys, model, method, output) -> None:
    cfg, new = demo_run
    out = new.parent / f"{method}-{model}.jsonl"
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


@pytest.mark.model
def test_calibrated_guard_file_names_the_guard(demo_run) -> None:
    cfg, _ = demo_run
    for m in cfg.models:
        data = json.loads(cfg.layout.calibrator(m.name).read_text(encoding="utf-8"))
        meta = scores.read_meta(cfg.layout.scores(m.name, "validation"))
        assert data["guard"]["template_hash"] == meta["template_hash"]
        assert data["guard"]["verbalizer"] == meta["verbalizer"]
        assert data["model"]["model"] == m.model
        assert data["fitted_on"]["validation"] == LIMIT
        assert set(data["calibrators"]) == set(method_names()) - {"uncalibrated"}


@pytest.mark.model
def test_demo_category_table_equals_a_recomputation(demo_run) -> None:
    from test_decisions import recompute_categories

    cfg, _ = demo_run
    preds = pipeline.read_predictions(cfg)
    split = records.load_split(cfg, "test")
    want = recompute_categories(preds, split, cfg.calibration.ece_bins)
    got = pd.read_csv(cfg.layout.table("category_metrics"))
    assert len(got) > 0
    keys = ["model", "method", "category"]
    got, want = (t.sort_values(keys).reset_index(drop=True) for t in (got, want))
    pd.testing.assert_frame_equal(got, want, atol=1e-6, check_dtype=False)


@pytest.mark.model
def test_predict_refuses_a_record_too_long_for_the_guard(demo_run, capsys) -> None:
    """An input longer than the guard's context stops with its file and row, before any weights
    load (the tokenizer measures it), and leaves no output file."""
    cfg, new = demo_run
    long = new.parent / "long.jsonl"
    rows = [{"prompt": "Is this fine?"}, {"prompt": "word " * 40_000}]
    long.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = new.parent / "long-out.jsonl"
    argv = ["predict", "--run", str(cfg.run_dir), "--model", ZERO_SHOT, str(long), "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{long}, row 2" in err and "tokens, more than the" in err
    assert not out.exists()
