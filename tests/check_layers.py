#!/usr/bin/env python3
"""The build's layer table (set(ZTUNE_DEPS_<layer> ...) in CMakeLists.txt) equals the design's (the "may use"
column of docs/ARCHITECTURE.md), and every #include "folder/..." in src/ points at its own folder or one that
table lists below it. The build's include views enforce the second per library; this check reports every
offending line at once, with the rule it breaks.

usage: check_layers.py SOURCE_DIR
"""
import pathlib
import re
import sys


def layer_table(cmake_text):
    table = {}
    for layer, deps in re.findall(r'set\(ZTUNE_DEPS_(\w+)\s*([^)]*)\)', cmake_text):
        table[layer] = set(d for d in deps.replace('"', '').split() if d)
    return table


def design_table(markdown, layers):
    """{layer: set of layers} from the rows '| `layer/` | owns | may use |' of docs/ARCHITECTURE.md."""
    table = {}
    for line in markdown.splitlines():
        match = re.match(r'\|\s*`(\w+)/`\s*\|.*\|\s*([^|]*)\|\s*$', line)
        if match and match.group(1) in layers:
            words = re.findall(r'\b(\w+)\b', re.sub(r'\([^)]*\)', '', match.group(2)))
            table[match.group(1)] = set(w for w in words if w in layers)
    return table


def main():
    root = pathlib.Path(sys.argv[1])
    table = layer_table((root / 'CMakeLists.txt').read_text())
    if not table:
        sys.exit('CMakeLists.txt: no set(ZTUNE_DEPS_<layer> ...) lines found')
    folders = {p.name for p in (root / 'src').iterdir() if p.is_dir()}
    problems = [f'src/{f}/ is not in the layer table of CMakeLists.txt' for f in sorted(folders - table.keys())]
    design = design_table((root / 'docs' / 'ARCHITECTURE.md').read_text(), set(table))
    for layer in sorted(table):
        if layer not in design:
            problems.append(f'docs/ARCHITECTURE.md: no row for {layer}/ in the layer table')
        elif design[layer] != table[layer]:
            problems.append(f'{layer}/: CMakeLists.txt lets it use {", ".join(sorted(table[layer])) or "nothing"}, '
                            f'docs/ARCHITECTURE.md {", ".join(sorted(design[layer])) or "nothing"}')
    checked = 0
    for path in sorted((root / 'src').rglob('*')):
        if path.suffix not in ('.h', '.cpp', '.in') or path.name == 'pch.h':
            continue
        layer = path.relative_to(root / 'src').parts[0]
        allowed = table.get(layer, set()) | {layer}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r'\s*#\s*include\s+"(\w+)/', line)
            if not match:
                continue
            checked += 1
            target = match.group(1)
            if target in folders and target not in allowed:
                problems.append(f'{path.relative_to(root)}:{number}: {layer}/ includes {target}/, which is not below it '
                                f'(allowed: {", ".join(sorted(allowed))})')
    for problem in problems:
        print(problem)
    print(f'{checked} includes checked, {len(problems)} against the layers')
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
