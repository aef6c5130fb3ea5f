#!/usr/bin/env python3
"""The stand-in hub (tests/python/hub_server.py) as a process of its own, for the cluster tests: it serves the model
folder as the public ModelScope model zt-owner/Tiny-Qwen and the data file as the dataset zt-owner/chat-data on all
addresses, writes its port to PORT_FILE and runs until killed; GET /__served lists the file downloads it answered.

usage: hub_serve.py MODEL_DIR DATASET PORT_FILE
"""
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import hub_server  # noqa: E402


def main():
    model, dataset, port_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    server = hub_server.start("unused-token", host="0.0.0.0")
    files = {str(p.relative_to(model)): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
    hub_server.add_repo(server.state, "model", "zt-owner/Tiny-Qwen", files)
    hub_server.add_repo(server.state, "dataset", "zt-owner/chat-data", {"train.jsonl": dataset.read_bytes()})
    port_file.write_text(f"{server.server_address[1]}\n")
    threading.Event().wait()


if __name__ == "__main__":
    main()
