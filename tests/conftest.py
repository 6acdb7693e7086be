"""Shared fixtures: golden files and a tiny user model written next to a YAML config."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from paramscope.model_zoo import registry

GOLDEN = Path(__file__).parent / "golden"

# rg_output_param_issue.ko.md, section 3: the breakdown of
# SUP-ETTh1.M0RGOUTHGBL.sharedpma.el1.k321.e20.vt.pr96.sd0 ("" = the total), kept once, in the preset
RG_OUTPUT_NOTE: dict[str, int] = dict(registry.preset_note("rg_output_etth1")["params"])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.txt")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden(name, text)``: compare with tests/golden/<name>, or rewrite it with --update-golden."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden") or not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not request.config.getoption("--update-golden"):
                pytest.fail(f"golden file {name} was missing and has been written; review and re-run")
        assert text == path.read_text(encoding="utf-8")

    return check


def render_plain(renderable, width: int = 100) -> str:
    """Render a Rich object as plain text, as rich's own table tests do."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


USER_MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyLM(nn.Module):
    """A model nobody in the zoo wrote: tied embeddings, a conv, an LSTM and SDPA."""

    def __init__(self, vocab: int = 100, d: int = 16, heads: int = 2):
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} is not divisible by heads={heads}")
        self.heads = heads
        self.emb = nn.Embedding(vocab, d)
        self.conv = nn.Conv1d(d, d, kernel_size=3, padding=1)
        self.rnn = nn.LSTM(d, d, batch_first=True)
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.emb.weight  # tied

    def forward(self, ids):
        x = self.emb(ids)                                   # (B, T, d)
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)    # (B, T, d)
        x, _ = self.rnn(x)
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, D)
        return self.head(x)


def make(vocab: int = 100, d: int = 16, heads: int = 2):
    return TinyLM(vocab, d, heads)


def make_with_inputs(vocab: int = 100, d: int = 16):
    return TinyLM(vocab, d), (torch.zeros(2, 8, dtype=torch.long),)
'''


@pytest.fixture
def user_config(tmp_path: Path) -> Path:
    """A YAML config with ``target: usermodel:make`` and the model file beside it."""
    (tmp_path / "usermodel.py").write_text(USER_MODEL, encoding="utf-8")
    cfg = tmp_path / "user.yaml"
    cfg.write_text(
        'target: "usermodel:make"\nargs:\n  vocab: 100\n  d: 16\ninputs:\n  ids: {shape: [2, 8], dtype: int64, high: 100}\n',
        encoding="utf-8",
    )
    return cfg


def one_error_line(res) -> str:
    """The single ``error:`` line of a CLI result that refused its input (exit 2, no traceback)."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture
def capped_address_space():
    """At most 3 GiB more address space while a test runs: code that should refuse a terabyte
    model before allocating, and regresses, fails at once instead of taking the shared machine."""
    resource = pytest.importorskip("resource")
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
        mapped = int(next(line.split()[1] for line in status if line.startswith("VmSize:"))) * 1024
    except (OSError, StopIteration):
        pytest.skip("no /proc/self/status to cap the address space from")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped + (3 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
