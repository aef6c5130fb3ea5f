#!/usr/bin/env python3
"""Every ms-swift flag is known to ztune: each field of the installed ms-swift's sft, infer and export argument
classes (SftArguments, InferArguments, ExportArguments with every base class, transformers' training arguments
included) is a flag of the matching ztune table, implemented or known (refused or ignored with a reason).

usage: check_flag_coverage.py ZTUNE

The fields are enumerated live from the installed ms-swift, never from a stored list; ztune's tables come from
`ztune COMMAND --list_flags_json`. Fails on:
- a field that ztune does not know (apart from ALLOWLIST, flags being implemented now),
- an ALLOWLIST entry that ztune now knows (remove it),
- a refused flag whose accepted values do not include ms-swift's default, or whose kind differs from ms-swift's,
- a command line holding every known flag at ms-swift's default that ztune refuses, or an unknown-flag error,
- a refused flag given another value (or bare) that ztune does not refuse with its reason.
"""
import dataclasses
import enum
import json
import logging
import math
import subprocess
import sys
import tempfile
import typing

logging.disable(logging.CRITICAL)

# Fields ms-swift has and ztune does not know yet, because they are being implemented (issue 14).
ALLOWLIST = {'sft': set(), 'infer': set(), 'export': set()}
# Refused flags whose ms-swift default ztune deliberately does not accept, with the reason.
DEFAULT_REFUSED = {
    ('sft', 'hub_strategy'): "ms-swift pushes every save; ztune pushes once at the end, so only 'end' is accepted",
}
# A flag refused at any value but ms-swift's default, and such a value, for the refusal check.
REFUSAL_PROBES = {
    'sft': [['--use_dora', 'true'], ['--use_dora'], ['--max_pixels', '1024'], ['--quant_method', 'bnb']],
    'infer': [['--num_beams', '4'], ['--quant_method', 'awq']],
    'export': [['--to_ollama', 'true'], ['--quant_method', 'gptq']],
}
# Arguments that make each command stop after parsing, before any real work.
STOP_EARLY = {'sft': ['--model', '/nonexistent/ztune-flag-check'], 'infer': ['--model', '/nonexistent/ztune-flag-check'],
              'export': []}
REFUSED_TEXT = 'not supported by ztune'
UNKNOWN_TEXT = 'unknown flag'


def swift_classes():
    import swift
    from swift.arguments import ExportArguments, InferArguments, SftArguments
    return swift.__version__, {'sft': SftArguments, 'infer': InferArguments, 'export': ExportArguments}


def kind_of(annotation):
    """bool, int, float, list or str, as HfArgumentParser parses the field."""
    text = str(annotation)
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (list, typing.List) or 'List[' in text or text.startswith('list['):
        return 'list'
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if len(args) == 1:
            return kind_of(args[0])
        if len(args) == 2 and str in args and any(typing.get_origin(a) is list for a in args):
            return 'list'
        return 'str'
    return {bool: 'bool', int: 'int', float: 'float'}.get(annotation, 'str')


def default_of(field):
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return None
    return value.value if isinstance(value, enum.Enum) else value


def swift_fields(cls):
    """name -> (kind, default) for every field HfArgumentParser turns into a flag."""
    hints = typing.get_type_hints(cls)
    return {f.name: (kind_of(hints.get(f.name, f.type)), default_of(f)) for f in dataclasses.fields(cls) if f.init}


def as_text(value):
    """ms-swift's default as command-line text; None when only leaving the flag out gives it (None, [], '')."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ' '.join(as_text(v) for v in value) if value else None
    text = str(value)
    return text if text else None


def canonical(kind, text):
    """As ztune compares values: booleans as true/false, numbers by value, None/null as None."""
    if text.lower() in ('none', 'null'):
        return 'None'
    if kind == 'bool' and text.lower() in ('true', '1', 'yes', 'y', 't', 'false', '0', 'no', 'n', 'f'):
        return 'true' if text.lower() in ('true', '1', 'yes', 'y', 't') else 'false'
    if kind in ('int', 'float'):
        try:
            number = float(text)
            if math.isfinite(number):
                return repr(number)
        except ValueError:
            pass
    return text.lower() if text.lower() in ('true', 'false') else text


def ztune_flags(ztune, command):
    out = subprocess.run([ztune, command, '--list_flags_json'], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        sys.exit(f'{ztune} {command} --list_flags_json failed ({out.returncode}): {out.stderr.strip()}')
    return json.loads(out.stdout)


def run_ztune(ztune, command, argv, work_dir):
    out = subprocess.run([ztune, command] + argv, capture_output=True, text=True, timeout=300, cwd=work_dir,
                         stdin=subprocess.DEVNULL)
    return out.returncode, out.stdout + out.stderr


def check_command(ztune, command, fields, work_dir):
    problems = []
    flags = ztune_flags(ztune, command)
    by_spelling = {}
    for flag in flags:
        for spelling in [flag['name']] + flag['aliases']:
            by_spelling[spelling.replace('-', '_')] = flag

    missing = sorted(n for n in fields if n not in by_spelling and n not in ALLOWLIST[command])
    for name in missing:
        kind, default = fields[name]
        problems.append(f'--{name} ({kind}, ms-swift default {default!r}) is unknown to ztune {command}')
    for name in sorted(ALLOWLIST[command]):
        if name in by_spelling:
            problems.append(f'--{name} is known to ztune {command} now: remove it from ALLOWLIST')
        elif name not in fields:
            problems.append(f'--{name} is no ms-swift {command} field: remove it from ALLOWLIST')

    # Known flags: the kind ms-swift parses, and ms-swift's default among the accepted values.
    defaults_argv = []
    for flag in flags:
        if flag['status'] not in ('refused', 'ignored') or flag['name'] not in fields:
            continue
        name = flag['name']
        kind, default = fields[name]
        if flag['kind'] != kind:
            problems.append(f'--{name}: ztune parses it as {flag["kind"]}, ms-swift as {kind}')
        text = as_text(default)
        if flag['status'] == 'refused' and (command, name) in DEFAULT_REFUSED:
            text = flag['accepted'][0]
        elif flag['status'] == 'refused':
            accepted = {canonical(kind, value) for value in flag['accepted']}
            wanted = canonical(kind, text) if text is not None else 'None' if default is None else ''
            if wanted not in accepted:
                problems.append(f'--{name}: ms-swift default {default!r} is not among the accepted {flag["accepted"]}')
        if text is not None:
            defaults_argv += [f'--{name}'] + text.split(' ')

    # Every known flag at its accepted value: the command fails later (no model), never on these flags.
    code, output = run_ztune(ztune, command, defaults_argv + STOP_EARLY[command], work_dir)
    if REFUSED_TEXT in output or UNKNOWN_TEXT in output:
        problems.append(f'ztune {command} with every known flag at its default: {output.strip()[-600:]}')
    elif code == 0:
        problems.append(f'ztune {command} with every known flag at its default and no input exited 0')

    for argv in REFUSAL_PROBES[command]:
        code, output = run_ztune(ztune, command, argv + STOP_EARLY[command], work_dir)
        expected = f'{argv[0]} {argv[1] if len(argv) > 1 else "true"}: {REFUSED_TEXT} ('
        if code == 0 or expected not in output:
            problems.append(f'ztune {command} {" ".join(argv)}: expected "{expected}...", got: {output.strip()[-300:]}')

    known = sum(1 for n in fields if n in by_spelling)
    statuses = {}
    for n in fields:
        if n in by_spelling:
            status = by_spelling[n]['status']
            statuses[status] = statuses.get(status, 0) + 1
    print(f'{command}: {len(fields)} ms-swift fields, {known} known to ztune {statuses}, '
          f'{len(ALLOWLIST[command])} allowlisted, {len(missing)} missing')
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    ztune = sys.argv[1]
    version, classes = swift_classes()
    print(f'ms-swift {version}')
    problems = []
    with tempfile.TemporaryDirectory(prefix='ztune-flag-coverage-') as work_dir:
        for command, cls in classes.items():
            problems += check_command(ztune, command, swift_fields(cls), work_dir)
    if problems:
        print(f'FAIL: {len(problems)} problems')
        for problem in problems:
            print('  ' + problem)
        sys.exit(1)
    print('OK: every ms-swift sft, infer and export flag is known to ztune')


if __name__ == '__main__':
    main()
