#!/usr/bin/env python3
"""Everything README.md tells a user to type works as written, from a fresh clone after set-up.

usage: check_readme_commands.py SOURCE_DIR BUILD_DIR WORK_DIR

SOURCE_DIR is cloned (git clone: committed files only, as a user gets them) into WORK_DIR/clone, where what set-up
makes is linked in (build/, .venv, .venv-swanlab, tests/fixtures/out) instead of being made again. Then README.md's
command blocks run there, in order, as a user would type them, in an environment with nothing the README does not
tell a user to set (PATH, a new HOME; as root the two OpenMPI variables the README names):
- ```bash blocks run as bash scripts (set -e); `bash scripts/demo.sh`, the main job, runs in full (its set-up finds
  everything in place); `bash scripts/test.sh` is this suite, so it is the one line not run;
- a ```yaml block whose first line is `# FILE   COMMAND` is written to FILE and COMMAND runs;
- a plain block whose first line is `$ COMMAND` runs COMMAND, which must fail with the lines that follow;
- the hub commands go to the stand-in hub (tests/python/hub_server.py) through MODELSCOPE_DOMAIN, which the README
  names as the endpoint setting, and it takes the README's token placeholder as the valid token.
The chat command gets a question and `exit` on its input.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import hub_server

NOT_RUN = {"bash scripts/test.sh": "the test command runs this suite itself"}


def blocks(readme):
    """(language, first line number, text) of every fenced block."""
    out, language, start, lines = [], None, 0, []
    for number, line in enumerate(readme.splitlines(), 1):
        if line.startswith("```"):
            if language is None:
                language, start, lines = line[3:].strip() or "text", number + 1, []
            else:
                out.append((language, start, "\n".join(lines) + "\n"))
                language = None
        elif language is not None:
            lines.append(line)
    return out


def main():
    source, build, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
    for made in ("build", ".venv", ".venv-swanlab", "tests/fixtures/out"):
        target = build if made == "build" else source / made
        if not target.exists():
            sys.exit(f"FAIL: {target} is missing: run scripts/setup.sh --tests first")
        os.symlink(target.resolve(), clone / made)
    server = hub_server.start("YOUR_TOKEN")
    home = work / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "MODELSCOPE_DOMAIN": f"http://127.0.0.1:{server.server_address[1]}"}
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    readme = (clone / "README.md").read_text()
    failures, ran = [], 0

    def run(command, where, stdin=None, expect_ok=True, timeout=900):
        started = time.time()
        result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + command], cwd=clone, env=env, input=stdin or "",
                                capture_output=True, text=True, timeout=timeout)
        took = time.time() - started
        ok = (result.returncode == 0) == expect_ok
        print(f"{'ok' if ok else 'FAIL'}: README line {where}: exit {result.returncode} in {took:.0f} s")
        if not ok:
            failures.append(f"README line {where}: exit {result.returncode}\n--- command\n{command}--- output (end)\n"
                            f"{(result.stdout + result.stderr)[-3000:]}")
        return result

    for language, line, text in blocks(readme):
        if language == "bash":
            kept = []
            for command in text.splitlines():
                if command.strip() in NOT_RUN:
                    print(f"not run: README line {line}: {command.strip()} ({NOT_RUN[command.strip()]})")
                    kept.append(f": {command}")
                else:
                    kept.append(command)
            script = "\n".join(kept) + "\n"
            chat = "What is the capital of France?\nexit\n" if re.search(r"ztune infer --adapters \"\$CKPT\"\s*$", script, re.M) else None
            result = run(script, line, stdin=chat)
            if "bash scripts/demo.sh" in script and result.returncode == 0 and "== after" not in result.stdout:
                failures.append(f"README line {line}: the main job did not reach its last reply")
            ran += 1
        elif language == "yaml" and text.startswith("# "):
            header = re.match(r"# (\S+)\s{2,}(.+)", text.splitlines()[0])
            if header:
                (clone / header[1]).write_text(text)
                run(header[2] + "\n", line)
                ran += 1
        elif language == "text" and text.startswith("$ "):
            command, *expected = text.splitlines()
            result = run(command[2:] + "\n", line, expect_ok=False)
            output = (result.stdout + result.stderr).splitlines()
            missing = [want for want in expected if want not in output]
            if missing:
                failures.append(f"README line {line}: `{command[2:]}` does not print {missing}: {output[-5:]}")
            ran += 1
    server.shutdown()
    if ran < 6:
        failures.append(f"only {ran} README blocks were found to run; has the README's layout changed?")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"ok: {ran} README blocks ran as written")


if __name__ == "__main__":
    main()
