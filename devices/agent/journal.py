"""The agent's local record of what it has printed, so that a job whose confirmation was lost (the server was
unreachable just after printing) is confirmed on retry, not printed twice."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

KEEP_SECONDS = 7 * 24 * 3600


class PrintJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder / "printed-jobs"

    def _marker(self, job_id: int, pdf: bytes) -> Path:
        # The PDF's hash joins the id, so a server whose job ids restart (a fresh database) is never confused.
        return self.folder / f"{job_id}-{hashlib.sha256(pdf).hexdigest()[:32]}"

    def printed(self, job_id: int, pdf: bytes) -> bool:
        return self._marker(job_id, pdf).exists()

    def record(self, job_id: int, pdf: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self._marker(job_id, pdf)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(int(time.time())))
        tmp.replace(marker)

    def prune(self) -> None:
        """Forget jobs older than a week."""
        if not self.folder.exists():
            return
        cutoff = time.time() - KEEP_SECONDS
        for marker in self.folder.iterdir():
            if marker.stat().st_mtime < cutoff:
                marker.unlink(missing_ok=True)
