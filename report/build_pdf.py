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
from pathlib import Path

import pypandoc
import typst

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
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
            image = (HERE / path).resolve()
            target = "/" + image.relative_to(ROOT).as_posix()
            if not path.endswith(".png"):
                return f"![{label}]({target})"
            width_px = struct.unpack(">I", image.read_bytes()[16:20])[0]  # PNG header
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


def main(out=HERE / "report.pdf"):
    out = Path(out)
    pages = [rewrite(page, (HERE / page).read_text(encoding="utf-8")) for page in PAGES]
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
    # pandoc writes a straight apostrophe, which typst turns into a prime after a digit ("Q2.1's")
    source = re.sub(r"(?<=[0-9])'(?=[A-Za-z])", "\u2019", source)
    typ = ROOT / ".cache" / "pdf" / "report.typ"
    typ.parent.mkdir(parents=True, exist_ok=True)
    typ.write_text(source, encoding="utf-8")
    _, warnings = typst.compile_with_warnings(str(typ), output=str(out), root=str(ROOT),
                                              timestamp=creation_time())
    for w in warnings:
        print("typst warning:", w, file=sys.stderr)
    print(f"wrote {os.path.relpath(out)} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
