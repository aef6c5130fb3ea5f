"""Watches every process's command line (/proc/*/cmdline, as `ps` shows it to any user) while a test runs,
and records those that hold one of the secrets: a secret ztune hands to a child process must travel by
environment or pipe. The commands the test itself starts (ztune, mpirun: a user may put --swanlab_token on
their own command line) are not ztune's doing and are left out. Scans every 50 ms; a child that lives shorter than that can slip through, so tests keep it running
across whole training runs."""
import threading
import time
from pathlib import Path


class CommandLineWatch:
    launched = {b"ztune", b"mpirun", b"orterun", b"prterun"}

    def __init__(self, secrets):
        self.secrets = [secret.encode() for secret in secrets]
        self.hits, self.scans = [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        while not self.stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    line = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                program = line.split(b"\0", 1)[0].rsplit(b"/", 1)[-1]
                if program in self.launched:
                    continue
                if any(secret in line for secret in self.secrets):
                    self.hits.append(line.replace(b"\0", b" ").decode(errors="replace")[:200])
            self.scans += 1
            time.sleep(0.05)

    def close(self):
        """Stops watching; the command lines that held a secret (empty when none did)."""
        self.stop.set()
        self.thread.join()
        return self.hits
