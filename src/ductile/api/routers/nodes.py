"""`GET /nodes`: the gateways sharing this database, their heartbeats and which one leads.

On PostgreSQL every node registers a row and heartbeats it (`ductile.cluster`); the answer is the
same from any node. On SQLite there is exactly one gateway — this one — and it always leads.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, Depends

from ductile.api.deps import bearer, gateway, require
from ductile.api.schemas import errors, scoped
from ductile.store.offload import off_loop

router = APIRouter(tags=["system"], dependencies=[Depends(bearer)])


@router.get(
    "/nodes",
    summary="Gateways sharing this database (PostgreSQL: every node; SQLite: this one)",
    responses=errors(401, 403),
    openapi_extra=scoped(
        "system:ro",
        "`{backend, this_node, leader, lease_seconds, nodes: [{node_id, host, pid, version, started_at, "
        "heartbeat_at, running, leader}]}`",
    ),
    dependencies=[Depends(require("system:ro"))],
)
async def nodes(gw: Any = Depends(gateway)) -> dict[str, Any]:
    cluster = getattr(gw, "cluster", None)
    if cluster is None:
        me = {
            "node_id": None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": gw.version,
            "started_at": gw.started_at,
            "heartbeat_at": None,
            "running": gw.dispatcher.busy,
            "leader": True,
        }
        return {"backend": "sqlite", "this_node": None, "leader": None, "lease_seconds": None, "nodes": [me]}
    rows = await off_loop(gw.store, gw.store.nodes)
    leader = cluster.node_id if cluster.leading else None
    for row in rows:
        row["leader"] = row["node_id"] == cluster.node_id and cluster.leading
    return {
        "backend": "postgresql",
        "this_node": cluster.node_id,
        "leader": leader,  # known for this node only; another node's /nodes names itself when it leads
        "lease_seconds": cluster.lease,
        "nodes": rows,
    }
