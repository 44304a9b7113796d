"""`make gpu-check` keeps working where no GPU is: its reduced mode runs the same three steps on
the CPU at toy sizes (here with one tiny-checkpoint test), and without `--reduced` a machine
with no GPU is told so."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch):
    """benchmarks/gpu_check.py as a module, and a way to call its main with arguments."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check

    def run(*argv: str) -> int:
        monkeypatch.setattr(sys, "argv", ["gpu_check.py", *argv])
        return gpu_check.main()

    return run


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_it_says_so_and_measures_nothing(gpu_check, capsys) -> None:
    assert gpu_check() == 2
    out = capsys.readouterr().out
    assert "NO GPU" in out and "--reduced" in out and "batch" not in out


@pytest.mark.model  # a random Llama with the embedded tokenizer, and a pytest run of its own
def test_the_reduced_check_runs_every_step_on_the_cpu(gpu_check, capfd) -> None:
    argv = ["--reduced", "--pytest-k", "tiny_mistral_v3", "--tests", "tests/test_precision.py"]
    assert gpu_check(*argv) == 0
    out = capfd.readouterr().out
    assert "REDUCED on the CPU (no GPU measured)" in out
    for batch in (2, 4, 8):
        line = rf"batch +{batch}: [\d,]+ input tokens/s \([\d,]+ after the prefix\), "
        line += r"[\d.]+ examples/s, [\d.]+ of the bf16 FLOP floor, peak process RSS [\d.]+ GiB"
        assert re.search(line, out), out
    assert re.search(r"scorer vs generate\(\) on 2 rows: max \|Δ\| \S+ \(within", out), out
    assert "GUARDCAL_TEST_DEVICE=cpu" in out and re.search(r"\b1 passed", out), out
    worst = r"largest \|p\(unsafe\)\| difference bf16 vs float32: \d\.\de-\d+ \(tiny_mistral_v3"
    assert re.search(worst, out), out
    assert "gpu-check passed" in out
