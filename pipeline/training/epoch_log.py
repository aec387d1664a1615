"""Training logs: live ones while training (TensorBoard, a progress bar) and the cached ones
written once at the end (dvclive curves, history, the train report).

TensorBoard event files carry wall times, so they live outside DVC's outputs (logs/); the
dvclive folder is a cached output and holds no times, so a resumed run writes the same bytes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from tqdm import tqdm

from pipeline.core import io
from pipeline.core.params import TrainParams
from pipeline.model.card import card_markdown


class EpochLogger:
    """Per-epoch TensorBoard scalars and a tqdm bar (quiet when stderr is not a terminal)."""

    def __init__(self, log_dir: Path, params: TrainParams, fresh: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if fresh and log_dir.exists():
            shutil.rmtree(log_dir)  # a new run: do not mix its curves with an old one's
        self._writer_cls = SummaryWriter
        self.log_dir = log_dir
        self.params = params
        self.writers: dict[int, Any] = {}
        self.bars: dict[int, tqdm] = {}
        self.show = params.progress and sys.stderr.isatty()

    def log(self, restart: int, row: dict[str, float], seconds: float) -> None:
        if restart not in self.writers:
            self.writers[restart] = self._writer_cls(str(self.log_dir / f"restart_{restart}"))
            self.bars[restart] = tqdm(
                total=self.params.epochs,
                initial=int(row["epoch"]) - 1,
                desc=f"train (restart {restart})" if self.params.restarts > 1 else "train",
                unit="epoch",
                disable=not self.show,
                leave=False,
            )
        epoch = int(row["epoch"])
        writer = self.writers[restart]
        for name, value in row.items():
            if name != "epoch":
                writer.add_scalar(name.replace("_", "/", 1), value, epoch)
        writer.add_scalar("time/epoch_seconds", seconds, epoch)
        bar = self.bars[restart]
        bar.update(1)
        bar.set_postfix(train_loss=f"{row['train_loss']:.4f}", val_loss=f"{row['val_loss']:.4f}")

    def __enter__(self) -> EpochLogger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for bar in self.bars.values():
            bar.close()
        for writer in self.writers.values():
            writer.close()


def write_train_reports(
    out_dir: Path, history: list[dict[str, float]], card: dict[str, Any]
) -> None:
    """dvclive curves + summary (best epoch, not last), history.json and report.md, atomically."""
    from dvclive import Live

    best = card["best"]
    with io.atomic_dir(out_dir) as tmp:
        live = Live(str(tmp), dvcyaml=False, save_dvc_exp=False, report=None)
        for row in history:
            for name, value in row.items():
                if name != "epoch":
                    live.log_metric(name, value)
            live.next_step()
        # dvclive's summary keeps the last epoch's values; report the restored (best) epoch.
        live.summary = {
            **best,
            "best_epoch": card["best_epoch"],
            "epochs_run": card["epochs_run"],
            "step": len(history) - 1,
        }
        live.end()
        io.write_json(history, tmp / "history.json")
        io.write_text(card_markdown(card), tmp / "report.md")
