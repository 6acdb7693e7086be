"""audit(): backends side by side, disagreements flagged and explained; its Rich rendering."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn
from rich.console import Console

from paramscope.profiler import flops
from paramscope.profiler.backends.interface import FlopCount
from paramscope.profiler.flops import AuditReport, AuditRow, audit
from paramscope.profiler.render.audit import render_audit


class KwAttention(nn.Module):
    """MultiheadAttention called with keyword inputs, as most user code does."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        y, _ = self.attn(query=x, key=x, value=x, need_weights=False)
        return self.fc(y)


def _model():
    with torch.device("meta"):
        return KwAttention(), torch.randn(2, 5, 16)


def test_audit_flags_thop_missing_attention_with_explanation():
    model, x = _model()
    report = audit(model, (x,), backends=("torch", "thop"))
    row = {r.path: r for r in report.rows}
    # attention, B*L = 10 rows, E = 16: in-proj 3*10*16*16 + QK^T and AV 2*2*5*5*16 + out-proj 10*16*16
    assert row["attn"].macs == {"torch": 7_680 + 1_600 + 2_560, "thop": 0}
    assert row["attn"].flagged and row["attn"].max_rel_diff == 1.0
    assert "thop could not count MultiheadAttention" in (row["attn"].explanation or "")
    assert row[""].flagged  # the root inherits the gap
    assert not row["fc"].flagged and row["fc"].explanation is None
    assert {r.path for r in report.flagged} == {"", "attn"}


def test_audit_explains_elementwise_convention():
    with torch.device("meta"):
        model, x = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8)), torch.randn(4, 8)
    report = audit(model, (x,), backends=("torch", "fvcore"))
    ln = {r.path: r for r in report.rows}["1"]
    assert ln.flagged and "elementwise ops" in (ln.explanation or "") and "fvcore" in (ln.explanation or "")


def test_audit_survives_a_broken_backend(monkeypatch):
    model, x = _model()
    real = flops.backend_for

    class Exploding:
        name = "fvcore"

        def count(self, *a, **k):
            raise RuntimeError("boom")

    monkeypatch.setattr(flops, "backend_for", lambda b: Exploding() if str(b) == "fvcore" else real(b))
    report = audit(model, (x,))
    assert report.errors == {"fvcore": "RuntimeError: boom"}
    assert all(r.macs["fvcore"] is None for r in report.rows)
    assert set(report.counts) == {"torch", "thop"}


def test_audit_rejects_unknown_backend():
    model, x = _model()
    with pytest.raises(ValueError):
        audit(model, (x,), backends=("nope",))


def _hand_built() -> AuditReport:
    rows = (
        AuditRow("", {"torch": 11_840, "thop": 2_560}, 0.7838, True, "thop could not count X"),
        AuditRow("fc", {"torch": 2_560, "thop": 2_560}, 0.0, False),
    )
    counts = {"torch": FlopCount("torch", {"": 11_840}, {"": 1})}
    return AuditReport(("torch", "thop"), rows, counts, {"fvcore": "BackendUnavailable: not installed"})


def test_render_audit_table():
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(render_audit(_hand_built()))
    out = console.file.getvalue()
    assert "│ (root) │     11,840 │     2,560 │    78.4% │ thop could not count X │" in out
    assert "│ fc     │      2,560 │     2,560 │     0.0% │                        │" in out
    assert "fvcore: not compared (BackendUnavailable: not installed)" in out
    only = Console(file=io.StringIO(), width=100, color_system=None)
    only.print(render_audit(_hand_built(), only_flagged=True))
    assert "│ fc " not in only.file.getvalue()
