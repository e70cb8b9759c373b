"""Build report/report.pdf from the report's Markdown pages (`make pdf`).

Pandoc (PyPI wheel pypandoc_binary) turns the Markdown into Typst, and the Typst
compiler (PyPI wheel typst) typesets it: both are self-contained wheels, no TeX
installation, and Typst renders the LaTeX math natively with its own fonts.
"""
import os
import re
import struct
import subprocess
import sys

import pypandoc
import typst

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAGES = ["README.md", "q1.md", "q2.md", "q2_theory.md", "q3.md"]
TITLE = "Deep Learning (IST 2024-25), Homework 2: written report"
FULL_WIDTH_PX = 1400  # a figure this many pixels wide spans the text width

# Typst set-up: fonts with IPA glyphs (DejaVu as fallback), compact tables, figures
# kept whole. Inline code is not given break points: text copied from the PDF must run.
PREAMBLE = r"""
#set text(font: ("Libertinus Serif", "DejaVu Serif", "DejaVu Sans"))
#show raw: set text(font: ("DejaVu Sans Mono",))
#show link: set text(fill: rgb("#1a4f99"))
#show heading: set block(above: 1.4em, below: 0.9em)
#show table: set text(size: 8.5pt)
#show table: set par(justify: false)
#show table.cell: set align(left)
#set table(inset: (x: 3pt, y: 3pt),
           stroke: (x, y) => if y == 0 { (top: 0.8pt, bottom: 0.5pt) })
#show figure: set block(breakable: false)
"""

LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def rewrite(page, text):
    """Make the links and image paths of one page work inside the single PDF."""
    def fix(m):
        bang, label, target = m.groups()
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        if bang:  # image: a path from the repository root (Typst's root below),
            # and a width that puts every figure at the same scale
            target = "/" + os.path.relpath(os.path.join(HERE, path), ROOT)
            if not path.endswith(".png"):
                return f"![{label}]({target})"
            with open(os.path.join(HERE, path), "rb") as f:
                width_px = struct.unpack(">I", f.read(24)[16:20])[0]  # PNG header
            width = min(100, round(100 * width_px / FULL_WIDTH_PX))
            return f"![{label}]({target}){{width={width}%}}"
        elif path in PAGES:  # another page of the report: jump inside the PDF
            target = "#" + (anchor or "page-" + path[:-3].lower())
        return f"{bang}[{label}]({target})"
    text = LINK.sub(fix, text)
    # the page's first heading gets an id that links to the page can jump to
    text = re.sub(r"^(# .*)$", r"\1 {#page-%s}" % page[:-3].lower(), text,
                  count=1, flags=re.M)
    return text


def creation_time():
    """SOURCE_DATE_EPOCH, else the last commit's time: rebuilding a commit gives the same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    git = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT,
                         capture_output=True, text=True)
    return int(git.stdout) if git.returncode == 0 and git.stdout.strip() else None


def main(out=os.path.join(HERE, "report.pdf")):
    pages = []
    for page in PAGES:
        with open(os.path.join(HERE, page), encoding="utf-8") as f:
            pages.append(rewrite(page, f.read()))
    markdown = "\n\n```{=typst}\n#pagebreak()\n```\n\n".join(pages)
    source = pypandoc.convert_text(
        markdown, "typst", format="markdown+gfm_auto_identifiers",
        extra_args=["--standalone", "--columns=10000",
                    "--metadata", f"title={TITLE}",
                    "--variable", "papersize=a4", "--variable", "fontsize=10.5pt",
                    "--variable", "margin.x=1.8cm", "--variable", "margin.y=2.2cm",
                    "--variable", "header-includes=" + PREAMBLE])
    source = source.replace("#h(-1em)", "#h(-0.17em)")  # LaTeX \! is -1/6 em, not -1 em
    # a thousands comma, {,} in the Markdown's math, arrives as `\,`, which Typst spaces as a list comma
    source = re.sub(r"(\d) \\, (?=\d{3})", r'\1","', source)
    cache = os.path.join(ROOT, ".cache", "pdf")
    os.makedirs(cache, exist_ok=True)
    typ = os.path.join(cache, "report.typ")
    with open(typ, "w", encoding="utf-8") as f:
        f.write(source)
    _, warnings = typst.compile_with_warnings(typ, output=out, root=ROOT,
                                              timestamp=creation_time())
    for w in warnings:
        print("typst warning:", w, file=sys.stderr)
    print(f"wrote {os.path.relpath(out)} ({os.path.getsize(out) // 1024} KiB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
