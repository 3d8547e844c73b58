"""Schedule pause and resume written by any node of a PostgreSQL cluster (`schedule_state` rows).

Only the status columns change, and only from the status the operation starts from, so a pause
made on one node and a fire or a resume on another serialise on the row: once a pause commits,
no fire of that entry can commit (the fire's own statement refuses a paused row), and a leader
that has not seen the pause yet cannot write it back to active. Resume sets the next slot too,
past now, as the scheduler's own resume does.
"""

from __future__ import annotations

from typing import Any

from ductile.store import queries

Q = queries.load("postgres_schedules")


class PgSchedules:
    """Mixin of `PostgresStore` (needs `_tx`). The scheduler calls these instead of a whole-row
    `put_schedule_state` for pause and resume when the store has them."""

    _tx: Any

    def pause_schedule(self, instance: str, schedule_id: str, *, command: str, reason: str, by: str, at: str) -> bool:
        """True when this call paused the entry (False: it was not active)."""
        params = {
            "instance": instance,
            "schedule_id": schedule_id,
            "command": command,
            "reason": reason,
            "paused_by": by,
            "paused_at": at,
            "updated_at": at,
        }
        with self._tx() as db:
            return db.execute(Q["schedule_pause"], params).fetchone() is not None

    def resume_schedule(
        self, instance: str, schedule_id: str, *, next_slot: str | None, next_fire: str | None, at: str
    ) -> bool:
        """True when this call resumed the entry (False: it was not paused)."""
        params = {
            "instance": instance,
            "schedule_id": schedule_id,
            "next_slot": next_slot,
            "next_fire": next_fire,
            "updated_at": at,
        }
        with self._tx() as db:
            return db.execute(Q["schedule_resume"], params).fetchone() is not None
