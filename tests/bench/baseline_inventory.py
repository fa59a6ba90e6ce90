#!/usr/bin/env python3
"""The inventory loop of the plan mm replaces, for case 4 of the benchmarks.

ModelInventoryService.scanAndReport() of the migration plan: walk the model
directories, HSET machine:<id>:models with the models as JSON, then one
SADD models:index:<name> per model, each awaited before the next: one
command per round trip.  Written with python3-redis, the way that code
would be ported, and kept as plain as the original.
"""

import argparse
import json
import os
import time

import redis


def scan_model_directories(root):
    models = []
    base = os.path.join(root, "models")
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            models.append({"name": name, "saveTo": os.path.relpath(path, root), "size": st.st_size})
    total = sum(m["size"] for m in models)
    return {"models": models, "total_models": len(models),
            "total_size_gb": round(total / (1 << 30), 2)}


def update_redis_inventory(r, machine_id, inventory):
    r.hset(f"machine:{machine_id}:models", mapping={
        "machine_id": machine_id,
        "models": json.dumps(inventory["models"]),
        "last_updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "total_models": inventory["total_models"],
        "total_size_gb": inventory["total_size_gb"],
    })
    for model in inventory["models"]:
        r.sadd(f"models:index:{model['name']}", machine_id)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--machine", required=True)
    a = ap.parse_args()
    r = redis.Redis(unix_socket_path=a.socket)
    update_redis_inventory(r, a.machine, scan_model_directories(a.root))


if __name__ == "__main__":
    main()
