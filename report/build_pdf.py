"""Build the report's two PDFs from their Markdown pages (`make pdf`): report/report.pdf, the answers
to the statement, and report/beyond.pdf, the companion with everything that goes beyond it.

Pandoc (PyPI wheel pypandoc_binary) parses the Markdown, a few rules below adjust its syntax tree
(captions, what must stay on one page with what), pandoc writes Typst, and the Typst compiler
(PyPI wheel typst) typesets it: both are self-contained wheels, no TeX installation, and Typst
renders the LaTeX math natively with its own fonts.

The typesetting rules, in the order they act:
- each document's title is its DOCUMENTS entry's, so its first page's own heading is dropped (it
  would repeat it);
- a link to a file of the repository would go nowhere in a PDF: the build stops and says so (write
  the path as inline code instead);
- a code block (one graded piece) and a table are never split across pages; a full-width figure
  floats to the top or bottom of its page (or the next), so that it leaves no blank behind;
- a figure is shown at the size it was drawn (pixels / the PNG's dpi), at most the text width, so
  its fonts print at the point sizes its code chose;
- an image followed by a paragraph wholly in italics takes that paragraph as its caption (the
  image's alt text stays its alt text), instead of showing the alt text and the paragraph twice;
  a figure narrower than NARROW of the text width has its caption beside it, not under it, numbered
  as the others;
- a paragraph just before a table (its introduction), and a paragraph that does not end a sentence
  ("... Hence", "... the chain rule gives", "... seed 42:"), stay on the same page as the table,
  equation, figure or list after them; so does a display equation with the "where ..." after it;
- a table whose columns do not fit the text width keeps every body cell on one line where it can and
  wraps only its headers (then, if still too wide, only its widest columns);
- a `<div class="references">` is set in 8 pt across the text width (Typst does not balance
  columns, so three would leave a narrow strip beside two empty ones);
- inline code and inline math never break across lines; a display equation wider than the text block
  is scaled down to fit.
"""
import json
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
DOCUMENTS = {  # PDF: (title, its pages in order, run on one after the other)
    "report.pdf": ("Deep Learning (IST 2024-25), Homework 2: the answers", ["README.md", "q1.md", "q2.md", "q3.md"]),
    "beyond.pdf": ("Deep Learning (IST 2024-25), Homework 2: beyond the questions", ["beyond.md"]),
}
MARGIN_X_CM, MARGIN_Y_CM = 2.25, 1.8
# A4 less the two margins: 16.5 cm, 6.50 in, the width the figure code draws full-width figures at
# (utils.save_figure, plot_comparison in scripts/q2_experiments.py, plot_attention in hw2-q3.py)
TEXT_WIDTH_IN = (21.0 - 2 * MARGIN_X_CM) / 2.54
DEFAULT_DPI = 150  # of a PNG that does not say its resolution (matplotlib's PNGs do)
NARROW = 0.8  # a figure narrower than this share of the text width takes its caption beside it
FORMAT = "markdown+gfm_auto_identifiers"

# Typst set-up. Fonts with IPA glyphs (DejaVu as fallback). Inline code and inline math are boxes, so
# that a line never breaks inside them (a flag split at its hyphen, half an equation on each line);
# inline code gets no break points either, so text copied from the PDF runs.
PREAMBLE = r"""
#set text(font: ("Libertinus Serif", "DejaVu Serif", "DejaVu Sans"))
#show raw: set text(font: ("DejaVu Sans Mono",))
// Code blocks: 8 pt, so that make_report's CODE_WIDTH (95) characters fit the text width, a rule on the
// left, never split across pages (each block is one graded piece); a line still too long wraps with a
// hanging indent of four columns past its own indentation, so that a wrapped line reads as one.
#show raw.where(block: true): set text(size: 8pt)
#show raw.where(block: true): it => block(width: 100%, breakable: false, inset: (left: 0.6em, y: 0.2em),
                                          stroke: (left: 0.5pt + luma(160)), {
  set par(justify: false, spacing: 0.55em, leading: 0.55em)
  for line in it.lines {
    let indent = line.text.len() - line.text.trim(at: start).len()
    if line.text.trim() == "" { v(0.55em, weak: false) }
    else { par(hanging-indent: (indent + 4) * 0.6em, line) }
  }
})
#show raw.where(block: false): box
#show math.equation.where(block: false): box
#show link: set text(fill: rgb("#1a4f99"))
#show heading: set block(above: 1.4em, below: 0.9em)
#show figure: set block(breakable: false)
#show figure.where(kind: table): set block(breakable: false)  // a table is read whole, on one page
#show figure.where(kind: image): set block(above: 1.2em, below: 1.2em)
// A full-width figure floats to the top or bottom of its page, or the next, so that it leaves no blank
#show figure.where(kind: image): set figure(placement: auto)
#show figure.caption: set text(size: 9pt)
#show figure.caption: c => layout(size => {
  // a one-line caption is centred under its figure, a longer one is set as a justified paragraph
  if measure(c).width <= size.width { c } else { set par(justify: true); align(left, c) }
})

// A display equation wider than the text block is scaled down to fit it.
#show math.equation.where(block: true): eq => layout(size => {
  let w = measure(eq).width
  align(center, if w <= size.width { eq } else { scale(size.width / w * 100%, reflow: true, eq) })
})

// Tables: small type, a rule under the header, the Markdown's column alignment (flush left where it
// gives none), and column widths from the content. When the natural widths (every cell on one
// line) fit, they are used. Otherwise each column gets the width of its longest body cell, and its
// header wraps between words; the width left over goes to the headers that need least of it, so
// that as few as possible wrap. Only if the body cells alone are too wide are the widest columns
// capped at a common width, so that only their text wraps.
#let table-inset = 3pt
#let widest-word(body) = {
  let pieces = if body.has("text") { body.text.split(" ").map(w => text(w)) }
    else if body.has("children") {
      body.children.map(c => if c.has("text") { c.text.split(" ").map(w => text(w)) } else { (c,) }).flatten()
    } else { (body,) }
  calc.max(0pt, ..pieces.map(p => measure(p).width))
}
#let fit-columns(need, room) = {
  // water-filling: columns narrower than a fair share keep their width, the others share the rest
  let widths = need
  let left = room
  let open = range(need.len()).sorted(key: i => need.at(i))
  while open.len() > 0 {
    let share = left / open.len()
    let i = open.first()
    if need.at(i) <= share { left -= need.at(i); open = open.slice(1) }
    else { for j in open { widths.at(j) = share }; open = () }
  }
  widths
}
#show table: set par(justify: false)
#show table: set text(size: 9pt)
#set table(inset: (x: table-inset, y: 2.5pt),
           stroke: (x, y) => if y == 0 { (top: 0.8pt, bottom: 0.5pt) })
#show table: t => {
  if t.columns.any(c => c != auto) { return t }  // widths already chosen
  layout(size => {
    let n = t.columns.len()
    let pad = 2 * table-inset + 0.5pt
    let header = t.children.filter(c => c.func() == table.header)
    let head = if header.len() > 0 { header.first().children } else { () }
    let body = t.children.filter(c => c.func() == table.cell)
    let zero = range(n).map(_ => 0pt)
    let (body-w, head-w, head-min) = (zero, zero, zero)
    for (k, c) in body.enumerate() {
      let i = calc.rem(k, n)
      body-w.at(i) = calc.max(body-w.at(i), measure(c.body).width + pad)
    }
    for (i, c) in head.enumerate() {
      head-w.at(i) = measure(c.body).width + pad
      head-min.at(i) = widest-word(c.body) + pad
    }
    let natural = range(n).map(i => calc.max(body-w.at(i), head-w.at(i)))
    let need = range(n).map(i => calc.max(body-w.at(i), head-min.at(i)))
    let widths = if natural.sum() <= size.width { natural } else if need.sum() <= size.width {
      let spare = size.width - need.sum()
      let w = need
      for i in range(n).sorted(key: i => natural.at(i) - need.at(i)) {
        let extra = calc.min(spare, natural.at(i) - need.at(i))
        w.at(i) += extra
        spare -= extra
      }
      w
    } else { fit-columns(need, size.width) }
    let fields = t.fields()
    let _ = fields.remove("children")
    fields.insert("columns", widths)
    // a column the Markdown leaves unaligned is set flush left (inside a figure it would be centred)
    let align = fields.at("align", default: auto)
    fields.insert("align", if type(align) == array { align.map(a => if a == auto { left } else { a }) }
                           else if align == auto { left } else { align })
    table(..fields, ..t.children)
  })
}
"""

LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def png_width_inches(path):
    """The width a PNG was drawn at: its pixels over the dpi of its pHYs chunk (DEFAULT_DPI if none)."""
    data = path.read_bytes()
    width_px = struct.unpack(">I", data[16:20])[0]
    dpi = DEFAULT_DPI
    at = data.find(b"pHYs", 0, data.find(b"IDAT"))
    if at > 0:
        x_per_unit, _, unit = struct.unpack(">IIB", data[at + 4: at + 13])
        if unit == 1 and x_per_unit:  # pixels per metre
            dpi = x_per_unit * 0.0254
    return width_px / dpi


def rewrite(page, text, first=False):
    """Make the image paths of one page work inside its PDF, at the size each image was drawn; refuse
    a link to a file of the repository, which would go nowhere in a PDF."""
    def fix(m):
        bang, label, target = m.groups()
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)
        if not bang:
            sys.exit(f"{page}: [{label}]({target}) links to a file, which goes nowhere in a PDF; "
                     "write its path as inline code")
        image = (HERE / target).resolve()  # a path from the repository root (Typst's root below)
        path = "/" + image.relative_to(ROOT).as_posix()
        if not target.endswith(".png"):
            return f"![{label}]({path})"
        width = png_width_inches(image)
        size = "100%" if width >= TEXT_WIDTH_IN else f"{width:.2f}in"
        return f"![{label}]({path}){{width={size}}}"
    text = LINK.sub(fix, text)
    text = re.sub(r"(?<=\S) × (?=\S)", "\u00a0×\u00a0", text)  # "48 × 48" never splits across lines
    if first:  # the document's title stands in for the first page's own heading
        return re.sub(r"^# .*\n+", "", text, count=1, flags=re.M)
    return text


# ----------------------------------------------------------------------------- the syntax tree

def raw(typst_source):
    return {"t": "RawBlock", "c": ["typst", typst_source]}


def plain_text(inlines):
    """The characters of a list of inlines (math and code included), for the rules below."""
    out = []
    for node in inlines:
        kind, content = node["t"], node.get("c")
        if kind == "Str":
            out.append(content)
        elif kind in ("Space", "SoftBreak", "LineBreak"):
            out.append(" ")
        elif kind in ("Math", "Code"):
            out.append(content[-1])
        elif kind in ("Emph", "Strong", "Underline", "Strikeout", "SmallCaps", "Superscript", "Subscript"):
            out.append(plain_text(content))
        elif kind in ("Link", "Span"):
            out.append(plain_text(content[1]))
        elif kind == "Quoted":
            out.append(plain_text(content[1]))
    return "".join(out)


def is_display_math(block):
    return (block["t"] == "Para" and len(block["c"]) >= 1 and block["c"][0]["t"] == "Math"
            and block["c"][0]["c"][0]["t"] == "DisplayMath"
            and all(n["t"] in ("Space", "SoftBreak", "Str") and plain_text([n]).strip() in ("", ".", ",")
                    for n in block["c"][1:]))


def caption_paragraph(block):
    """The inlines of a paragraph that is wholly in italics, else None."""
    if block["t"] != "Para":
        return None
    nodes = [n for n in block["c"] if n["t"] not in ("Space", "SoftBreak")]
    return nodes[0]["c"] if len(nodes) == 1 and nodes[0]["t"] == "Emph" else None


def leads_on(block):
    """Whether a paragraph introduces what follows it: it ends with a colon, or without ending a sentence."""
    if block["t"] not in ("Para", "Plain") or is_display_math(block):
        return False
    text = plain_text(block["c"]).rstrip().rstrip(")]*_\"'\u201d\u2019 ")
    return bool(text) and text[-1] not in ".!?"


def continues(block):
    """Whether a paragraph continues the sentence of a display equation before it ("where ...", "so ...")."""
    return block["t"] == "Para" and re.match(r"[a-z]", plain_text(block["c"]).lstrip()) is not None


def is_comment(block):
    return block["t"] == "RawBlock" and block["c"][0] == "html" and block["c"][1].lstrip().startswith("<!--")


STICKS_TO = ("Table", "Figure", "BulletList", "OrderedList", "CodeBlock", "BlockQuote", "Div")


def is_narrow(image):
    """Whether an image is drawn narrower than NARROW of the text width (its width set by `rewrite`)."""
    width = dict(image["c"][0][2]).get("width", "100%")
    return width.endswith("in") and float(width[:-2]) < NARROW * TEXT_WIDTH_IN


def caption_beside(figure, caption):
    """A narrow figure's image with its caption set beside it, in the caption's type, instead of under it:
    a figure (numbered, floating as the others) whose body is the image and its "Figure N: ..." caption."""
    number = "#context counter(figure.where(kind: image)).display()"
    return {"t": "Div", "c": [["", [], []], [
        raw("#figure(kind: image, placement: auto, grid(columns: (auto, 1fr), column-gutter: 1.2em, "
            "align: horizon, ["), *figure["c"][2],
        raw("], [\n#set text(size: 9pt)\n#set par(justify: false)\n#set align(left)"),
        {"t": "Para", "c": [{"t": "RawInline", "c": ["typst", f"Figure {number}: "]}, *caption]}, raw("]))")]]}


def arrange(blocks, alts):
    """Apply the caption and keep-together rules to a list of blocks, and to the lists inside them."""
    blocks = [b for b in blocks if not is_comment(b)]  # invisible, and would stand between neighbours
    out = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        follower = blocks[i + 1] if i + 1 < len(blocks) else None
        if block["t"] == "Figure":
            images = [n for b in block["c"][2] if b["t"] in ("Plain", "Para") for n in b["c"] if n["t"] == "Image"]
            caption = caption_paragraph(follower) if follower else None
            for image in images:
                alts[image["c"][2][0]] = plain_text(image["c"][1])
            if caption is not None:
                i += 1  # the paragraph is now the caption
                if all(is_narrow(image) for image in images):
                    block = caption_beside(block, caption)
                else:
                    block["c"][1] = [None, [{"t": "Plain", "c": caption}]]
        elif block["t"] in ("BulletList", "OrderedList"):
            items = block["c"] if block["t"] == "BulletList" else block["c"][1]
            for k, item in enumerate(items):
                items[k] = arrange(item, alts)
        elif block["t"] in ("BlockQuote", "Div"):
            block["c"][-1] = arrange(block["c"][-1], alts)
            if block["t"] == "Div" and "references" in block["c"][0][1]:  # <div class="references">: small type
                block["c"][-1] = [raw("#block[#set text(size: 8pt)\n#set par(spacing: 0.45em, justify: false)"),
                                  *block["c"][-1], raw("]")]
        if follower is not None and (
                (block["t"] in ("Para", "Plain") and follower["t"] == "Table")
                or (leads_on(block) and (follower["t"] in STICKS_TO or is_display_math(follower)))
                or (is_display_math(block) and continues(follower))):
            out += [raw("#block(sticky: true, width: 100%)["), block, raw("]")]
        else:
            out.append(block)
        i += 1
    return out


def typst_alt(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def creation_time():
    """SOURCE_DATE_EPOCH, else the last commit's time: rebuilding a commit gives the same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    git = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT,
                         capture_output=True, text=True)
    return int(git.stdout) if git.returncode == 0 and git.stdout.strip() else None


def typst_source(title, pages):
    """One PDF's Typst document: its `pages` (Markdown files of this folder) under `title`."""
    pages = [rewrite(page, (HERE / page).read_text(encoding="utf-8"), first=k == 0) for k, page in enumerate(pages)]
    markdown = "\n\n".join(pages)
    tree = json.loads(pypandoc.convert_text(markdown, "json", format=FORMAT, extra_args=["--columns=10000"]))
    alts = {}
    tree["blocks"] = arrange(tree["blocks"], alts)
    text = lambda value: {"t": "MetaString", "c": value}
    tree["meta"].update(title=text(title), papersize=text("a4"), fontsize=text("10pt"),
                        margin={"t": "MetaMap", "c": {"x": text(f"{MARGIN_X_CM}cm"), "y": text(f"{MARGIN_Y_CM}cm")}})
    source = pypandoc.convert_text(
        json.dumps(tree), "typst", format="json",
        extra_args=["--standalone", "--columns=10000",
                    "--variable", "header-includes=" + PREAMBLE])
    for path, alt in alts.items():  # pandoc's Typst writer drops an image's alt text
        source = source.replace(f'image("{path}"', f'image("{path}", alt: {typst_alt(alt)}')
    source = source.replace("#h(-1em)", "#h(-0.17em)")  # LaTeX \! is -1/6 em, not -1 em
    # a thousands comma, {,} in the Markdown's math, arrives as `\,`, which Typst spaces as a list comma
    source = re.sub(r"(\d) \\, (?=\d{3})", r'\1","', source)
    # pandoc writes a straight apostrophe, which typst turns into a prime after a digit ("Q2.1's")
    source = re.sub(r"(?<=[0-9])'(?=[A-Za-z])", "\u2019", source)
    return source


def build(name, title, pages):
    out = HERE / name
    typ = ROOT / ".cache" / "pdf" / Path(name).with_suffix(".typ")
    typ.parent.mkdir(parents=True, exist_ok=True)
    typ.write_text(typst_source(title, pages), encoding="utf-8")
    _, warnings = typst.compile_with_warnings(str(typ), output=str(out), root=str(ROOT),
                                              timestamp=creation_time())
    for w in warnings:
        print("typst warning:", w, file=sys.stderr)
    print(f"wrote {os.path.relpath(out)} ({out.stat().st_size // 1024} KiB)")


def main():
    for name, (title, pages) in DOCUMENTS.items():
        build(name, title, pages)


if __name__ == "__main__":
    main()
