"""audit(): backends side by side, disagreements flagged and explained; its Rich rendering."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn
from rich.console import Console

from paramscope.profiler import flops
from paramscope.profiler.backends.interface import FlopCount
from paramscope.profiler.audit import AuditReport, AuditRow, audit
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


class Rotate(nn.Module):
    """A user module doing a matmul with its own parameter: no thop rule knows it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 16))

    def forward(self, x):
        return x @ self.w


class WithRotate(KwAttention):
    def __init__(self) -> None:
        super().__init__()
        self.rot = Rotate()

    def forward(self, x):
        return self.rot(super().forward(x))


def test_thop_counts_attention_called_by_keyword():
    model, x = _model()
    report = audit(model, (x,), backends=("torch", "thop"))
    row = {r.path: r for r in report.rows}
    # attention, B*L = 10 rows, E = 16: in-proj 3*10*16*16 + QK^T and AV 2*2*5*5*16 + out-proj 10*16*16
    assert row["attn"].macs == {"torch": 7_680 + 1_600 + 2_560, "thop": 7_680 + 1_600 + 2_560}
    assert report.flagged == ()
    assert row["attn"].added == {"thop": 11_840}  # paramscope's MultiheadAttention rule, not thop's own


def test_audit_flags_thop_missing_rule_with_explanation():
    with torch.device("meta"):
        model, x = WithRotate(), torch.randn(2, 5, 16)
    report = audit(model, (x,), backends=("torch", "thop"))
    row = {r.path: r for r in report.rows}
    # x @ w: 10 rows * 16 * 16 = 2,560
    assert row["rot"].macs == {"torch": 2_560, "thop": 0}
    assert row["rot"].flagged and row["rot"].max_rel_diff == 1.0
    assert row["rot"].explanation == "thop has no rule for Rotate"
    assert row[""].flagged and "thop has no rule for Rotate" in (row[""].explanation or "")
    assert not row["fc"].flagged and row["fc"].explanation is None
    assert {r.path for r in report.flagged} == {"", "rot"}


def test_a_flagged_row_is_never_left_unexplained():
    from paramscope.profiler.audit import _explain

    counts = {"torch": FlopCount("torch", {"": 10}, {"": 1}), "thop": FlopCount("thop", {"": 20}, {"": 1})}
    why = _explain("", counts, {"torch": 10, "thop": 20})
    assert why == "not explained by any backend (torch 10, thop 20): compare their per-op counts"


def test_audit_labels_figures_from_added_rules():
    with torch.device("meta"):
        model, x = nn.Sequential(nn.GRU(8, 16), nn.Linear(16, 4)), torch.randn(5, 2, 8)

    class First(nn.Module):  # the GRU's output tuple -> its output
        def __init__(self) -> None:
            super().__init__()
            self.seq = model

        def forward(self, x):
            return self.seq[1](self.seq[0](x)[0])

    report = audit(First(), (x,))
    row = {r.path: r for r in report.rows}
    # GRU: 10 tokens * 3 * (8*16 + 16*16) = 11,520; Linear: 10*16*4 = 640
    assert row["seq.0"].macs == {"torch": 11_520, "fvcore": 11_520, "thop": 11_520}
    assert row["seq.0"].added == {"fvcore": 11_520, "thop": 11_520}  # shipped fvcore and thop count a GRU as 0
    assert row["seq.1"].added == {} and row[""].added == {"fvcore": 11_520, "thop": 11_520}
    assert report.added_rules == {"fvcore": ("gru",), "thop": ("GRU",)}
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render_audit(report))
    out = console.file.getvalue()
    assert "│ seq.0  │     11,520 │     11,520* │   11,520* │" in out
    assert "* includes MACs from paramscope's added formulas, not the library's own (fvcore: gru; thop: GRU)" in out


def test_audit_explains_elementwise_convention():
    with torch.device("meta"):
        model, x = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8)), torch.randn(4, 8)
    report = audit(model, (x,), backends=("torch", "fvcore"))
    ln = {r.path: r for r in report.rows}["1"]
    # fvcore's layer_norm: 5 per element with an affine, 5 * 4*8 = 160
    assert ln.flagged and ln.explanation == ("fvcore charges 160 MACs to elementwise ops (norms, pooling, "
                                             "upsampling); the others charge 0")


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
