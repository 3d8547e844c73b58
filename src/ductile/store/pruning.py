"""Retention: deleting finished jobs past their cutoff with everything hanging off them. The same
statements by name in both dialects, so one loop serves both stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ductile.timeutil import to_text


class Pruning:
    """Needs the host's named queries (`_q`) and `_prune_tx`: a write transaction for upkeep (on
    PostgreSQL one that need not wait for the commit to reach disk: a lost prune is redone)."""

    _q: Mapping[str, str]
    _prune_tx: Callable[[], AbstractContextManager[Any]]

    def prune(self, cutoffs: dict[str, datetime], batch: int = 1000) -> int:
        removed = 0
        for status, cutoff in cutoffs.items():
            with self._prune_tx() as db:
                args = {"status": status, "cutoff": to_text(cutoff), "batch": batch}
                pruned = db.execute(self._q["prune_jobs"], args).fetchall()
                ids = [r[0] for r in pruned]
                if ids:
                    blob = json.dumps(ids)
                    db.execute(self._q["delete_attempts"], {"ids": blob})
                    db.execute(self._q["delete_transitions"], {"ids": blob})
                    db.execute(self._q["delete_events"], {"ids": blob})
                    contexts = [r[1] for r in pruned if r[1]]
                    if contexts:
                        gone = db.execute(self._q["delete_contexts"], {"ids": json.dumps(contexts)}).fetchall()
                        instances = sorted({r[0] for r in gone})
                        db.execute(self._q["delete_orphan_roots"], {"instances": json.dumps(instances)})
                removed += len(ids)
        return removed
