#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-man3.py - man3 pages for the public API, generated from the header comments.

    gen-man3.py OUTDIR HEADER...        write OUTDIR/<function>.3
    gen-man3.py --check OUTDIR LIB.so   fail unless every uhmm_* symbol that
                                        LIB.so exports has OUTDIR/<symbol>.3

A comment in include/uhmm/*.h documents the declarations that follow it up
to the next blank line or comment: they form one family, whose page is
named after the first function; the others are one-line `.so` links to it.
Exported functions (UHMM_API) and static inline functions get pages. A
declaration with no comment of its own gets a page that points at its
header. The header comments are the documentation: write them there.
"""
import os
import re
import subprocess
import sys

DECL_START = re.compile(r'^(UHMM_API\s|static\s+inline\s)')
FUNC_NAME = re.compile(r'\b(uhmm_[A-Za-z0-9_]+)\s*\(')
# An exported object: UHMM_API extern const struct uhmm_x uhmm_x_default;
DATA_NAME = re.compile(r'^extern\b.*\b(uhmm_[A-Za-z0-9_]+)\s*;$')


def roff(text):
    """Escape text for roff: backslashes, and a leading . or '."""
    out = []
    for line in text.split('\n'):
        line = line.replace('\\', '\\e')
        if line.startswith('.') or line.startswith("'"):
            line = '\\&' + line
        out.append(line)
    return '\n'.join(out)


def clean_comment(lines):
    """The text of a /* ... */ block, without the comment markers."""
    text = []
    for i, line in enumerate(lines):
        s = line.strip()
        if i == 0:
            s = s[2:]
        if s.endswith('*/'):
            s = s[:-2]
        s = s.strip()
        if s.startswith('*'):
            s = s[1:]
            if s.startswith(' '):
                s = s[1:]
        text.append(s.rstrip())
    while text and not text[0]:
        text.pop(0)
    while text and not text[-1]:
        text.pop()
    return text


def parse(path):
    """[(header, file_summary, comment_lines, [(name, prototype)])] for one header."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    header = os.path.basename(path)
    families = []
    file_summary = ''
    comment = None
    current = None
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith('/*'):
            block = [line]
            while '*/' not in lines[i]:
                i += 1
                block.append(lines[i])
            text = clean_comment(block)
            if not file_summary and text and ' - ' in text[0] and 'SPDX' not in text[0]:
                file_summary = text[0].split(' - ', 1)[1]
            comment = text
            current = None
            i += 1
            continue
        if not s:
            comment = None
            current = None
            i += 1
            continue
        if DECL_START.match(s):
            decl = [s]
            while not re.search(r'[;{]\s*$', decl[-1]) and not decl[-1].endswith('}'):
                i += 1
                decl.append(lines[i].strip())
            proto = ' '.join(decl)
            if '{' in proto:       # a static inline body: keep the prototype only
                proto = proto[:proto.index('{')].rstrip() + ';'
                depth = proto.count('{')
                j = i
                body = ' '.join(decl)
                depth = body.count('{') - body.count('}')
                while depth > 0:
                    j += 1
                    depth += lines[j].count('{') - lines[j].count('}')
                i = j
            proto = re.sub(r'^UHMM_API\s+', '', proto)
            proto = re.sub(r'\s+', ' ', proto)
            m = FUNC_NAME.search(proto) or DATA_NAME.search(proto)
            if m:
                if current is None:
                    current = (header, file_summary, comment or [], [])
                    families.append(current)
                current[3].append((m.group(1), proto))
            i += 1
            continue
        # Anything else (a struct, a macro) ends the family and its comment.
        comment = None
        current = None
        i += 1
    return families


def summary_of(comment, header, file_summary):
    """The NAME line: 'name - summary' from the comment, else its first sentence."""
    if comment:
        first = comment[0]
        m = re.match(r'^(uhmm_[A-Za-z0-9_]+)\s+-\s+(.*)$', first)
        if m:
            rest = [m.group(2)]
            for line in comment[1:]:
                if not line or rest[-1].endswith('.'):
                    break
                rest.append(line)
            text = ' '.join(rest)
            return text.split('. ')[0].rstrip('.'), comment
        text = ' '.join(l for l in comment if l)
        return text.split('. ')[0].rstrip('.')[:120], comment
    return 'see <uhmm/%s> (%s)' % (header, file_summary.rstrip('.')), comment


def write_family(outdir, version, fam):
    header, file_summary, comment, funcs = fam
    first = funcs[0][0]
    summary, body = summary_of(comment, header, file_summary)
    if body and re.match(r'^uhmm_[A-Za-z0-9_]+\s+-\s+', body[0]):
        body = [re.sub(r'^uhmm_[A-Za-z0-9_]+\s+-\s+', '', body[0])] + body[1:]
    names = ', '.join(n for n, _ in funcs)
    page = []
    page.append('.\\" Generated by scripts/gen-man3.py from include/uhmm/%s. Do not edit.' % header)
    page.append('.TH %s 3 "" "uhmm %s" "uhmm manual"' % (first.upper(), version))
    page.append('.SH NAME')
    page.append(roff('%s \\- %s' % (names, summary)).replace('\\e-', '\\-'))
    page.append('.SH SYNOPSIS')
    page.append('.nf')
    page.append('.B #include <uhmm/%s>' % header)
    page.append('.PP')
    for _, proto in funcs:
        page.append(roff(proto))
    page.append('.fi')
    page.append('.SH DESCRIPTION')
    if body:
        para = []
        for line in body:
            if not line:
                if para:
                    page.append(roff('\n'.join(para)))
                    page.append('.PP')
                para = []
            else:
                if line.startswith('@') and para:    # one argument per line
                    page.append(roff('\n'.join(para)))
                    page.append('.br')
                    para = []
                para.append(line)
        if para:
            page.append(roff('\n'.join(para)))
    else:
        page.append('Declared in')
        page.append('.IR <uhmm/%s> :' % header)
        page.append(roff(file_summary + '.'))
    page.append('.PP')
    page.append('Functions return 0 or a negative errno unless stated otherwise.')
    page.append('.SH SEE ALSO')
    page.append('.BR uhmm (1),')
    page.append('.I <uhmm/%s>' % header)
    with open(os.path.join(outdir, first + '.3'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(page) + '\n')
    for name, _ in funcs[1:]:
        with open(os.path.join(outdir, name + '.3'), 'w', encoding='utf-8') as f:
            f.write('.so man3/%s.3\n' % first)


def version_of(headers):
    parts = {}
    for h in headers:
        if os.path.basename(h) != 'version.h':
            continue
        with open(h, encoding='utf-8') as f:
            for m in re.finditer(r'#define UHMM_VERSION_(MAJOR|MINOR|PATCH) (\d+)', f.read()):
                parts[m.group(1)] = m.group(2)
    return '.'.join(parts.get(k, '0') for k in ('MAJOR', 'MINOR', 'PATCH'))


def check(outdir, lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True, capture_output=True,
                         text=True).stdout
    syms = sorted({l.split()[-1].split('@')[0] for l in out.splitlines() if l.split()})
    syms = [s for s in syms if s.startswith('uhmm_')]
    missing = [s for s in syms if not os.path.isfile(os.path.join(outdir, s + '.3'))]
    for s in missing:
        print('man: %s is exported by %s but has no page %s/%s.3' % (s, lib, outdir, s), file=sys.stderr)
    if not syms:
        print('man: %s exports no uhmm_* symbol' % lib, file=sys.stderr)
        return 1
    if missing:
        print('man: %d of %d exported functions lack a man3 page: document them in their header'
              % (len(missing), len(syms)), file=sys.stderr)
        return 1
    print('man: all %d exported functions have a man3 page' % len(syms))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == '--check':
        return check(argv[2], argv[3])
    if len(argv) < 3 or argv[1].startswith('-'):
        print(__doc__, file=sys.stderr)
        return 2
    outdir, headers = argv[1], sorted(argv[2:])
    os.makedirs(outdir, exist_ok=True)
    for old in os.listdir(outdir):
        if old.endswith('.3'):
            os.remove(os.path.join(outdir, old))
    version = version_of(headers)
    n = 0
    for h in headers:
        for fam in parse(h):
            write_family(outdir, version, fam)
            n += len(fam[3])
    return 0 if n else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
