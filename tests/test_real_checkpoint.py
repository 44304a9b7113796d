"""A real checkpoint through the real path: a tiny random Llama saved with the real Llama 3
tokenizer and Llama Guard 3 8B's template, loaded by `from_pretrained(path)` as a hub id is, through
`guardcal score`, reading what greedy `generate()` reads at the verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from shipped_demo import demo_dataset, scoring
from transformers import AutoModelForCausalLM, AutoTokenizer

from guardcal import scores
from guardcal.__main__ import main
from guardcal.calibration.methods import method_names
from guardcal.config import load_config
from guardcal.extraction.forward import render_inputs
from guardcal.extraction.prompts import GuardPrompt
from guardcal.records import load_split

MODEL = "Tiny Llama Guard 3"
ROWS = 8


def write_config(folder: Path, checkpoint: Path, mode: str, **extra) -> Path:
    """A run over the demo files with the tiny checkpoint as its one guard, `ROWS` rows a split."""
    raw = {
        "name": f"tiny-{mode}",
        "reports_dir": str(folder / "reports"),
        "dataset": demo_dataset(ROWS),
        "models": [{"name": MODEL, "model": str(checkpoint), "format": "llama_guard_3"}],
        "prompt": {"taxonomy": "beavertails_descriptions", "input": mode},
        "scoring": scoring(batch_size=3, shard_size=4),
        **extra,
    }
    path = folder / f"tiny-{mode}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["study", "model"])
def test_score_reads_what_greedy_generation_reads(tmp_path, tiny_llama3, checkpoint_device, mode):
    path = write_config(tmp_path, tiny_llama3, mode)
    assert main(["score", "--config", str(path), "--split", "test", "-q"]) == 0
    cfg = load_config(path)
    got = scores.read_scores(cfg, MODEL, "test")
    meta = scores.read_meta(cfg.layout.scores(MODEL, "test"))
    assert meta["input"] == mode and meta["model"] == str(tiny_llama3)

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama3)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama3).to(checkpoint_device).eval()
    prompt = GuardPrompt("beavertails_descriptions", "llama_guard_3", tokenizer, mode)
    frame = load_split(cfg, "test")
    expected = []
    with torch.inference_mode():
        for ids in prompt.encode(render_inputs(prompt, frame)):
            start = [128000, 220, 128000, 128006] if mode == "study" else [220, 128000, 128006, 882]
            assert ids[:4] == start
            assert ids[-1] == 271
            out = model.generate(
                torch.tensor([ids], device=checkpoint_device),
                max_new_tokens=1,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.eos_token_id,
            )
            logits = out.logits[0][0].double()
            pair = logits[[19193, 39257]]
            mass = torch.softmax(logits, 0)[[19193, 39257]].sum()
            expected.append([*pair.tolist(), float(mass)])
    expected = np.array(expected)
    assert len(got) == ROWS
    pair = got[["logit_safe", "logit_unsafe"]].to_numpy()
    np.testing.assert_allclose(pair, expected[:, :2], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["label_mass"], expected[:, 2], rtol=1e-4, atol=0)
    assert np.isfinite(pair).all()


@pytest.mark.model
@pytest.mark.report
def test_report_runs_on_the_tiny_checkpoint(tmp_path, tiny_llama3, capfd):
    """`guardcal report` end to end on a checkpoint folder, in the study's input mode: scoring in
    the terminal, each notebook named as it starts, no kernel transport warning; the study's
    table has the guard's four rows; a second run with nothing changed rebuilds nothing."""
    path = write_config(tmp_path, tiny_llama3, "study")
    assert main(["report", "--config", str(path), "--no-pdf"]) == 0
    out, err = capfd.readouterr()
    assert "[1/5] 01_extraction …" in out and "[5/5] 05_report …" in out
    assert "scoring test" in err and "without encryption" not in err
    assert main(["report", "--config", str(path), "--no-pdf"]) == 0
    out, _ = capfd.readouterr()
    assert "report is up to date" in out and "01_extraction" not in out
    cfg = load_config(path)
    assert cfg.layout.report_html.is_file()
    metrics = pd.read_csv(cfg.layout.table("metrics"))
    assert metrics["model"].unique().tolist() == [MODEL]
    assert sorted(metrics["method"]) == sorted(method_names(study=True))
    assert np.isfinite(metrics[["ece", "nll", "auprc"]].to_numpy()).all()
