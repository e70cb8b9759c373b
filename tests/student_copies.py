"""Students' folders made of copies of our files, with whole functions or classes swapped for a mutant's.

A mutant names what it replaces (`"BahdanauAttention.attend"`, `"nucleus_distribution"`), never
a line of our source, so reformatting our files leaves every mutant as it was. `APPEND` adds
module-level code at the end instead (an import, a wrapper of one of our functions).
"""
import ast
import textwrap
from pathlib import Path

from helpers import ROOT

Q3_FILES = ("models.py", "hw2-q3.py", "utils.py")
Q2_FILES = ("models.py", "hw2-q2.py", "utils.py")
APPEND = "<end of the module>"


def definition(tree, dotted_name):
    """The def or class `dotted_name` ("Class.method", "function") of a parsed module."""
    scope, node = tree.body, None
    for name in dotted_name.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name), None)
        assert node is not None, f"no {dotted_name} in the file: update the mutant"
        scope = node.body
    return node


def replace_definition(text, dotted_name, source):
    """`text` with the def or class `dotted_name` (decorators included) replaced by `source`."""
    if dotted_name == APPEND:
        return text + "\n\n" + textwrap.dedent(source).strip("\n") + "\n"
    node = definition(ast.parse(text), dotted_name)
    lines = text.splitlines(keepends=True)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    new = textwrap.indent(textwrap.dedent(source).strip("\n") + "\n", " " * node.col_offset)
    return "".join(lines[:start]) + new + "".join(lines[node.end_lineno:])


def mutated(name, replacements):
    """Our file `name` with [(dotted name, source), ...] swapped in, in order."""
    text = (ROOT / name).read_text(encoding="utf-8")
    for dotted_name, source in replacements:
        text = replace_definition(text, dotted_name, source)
    return text


def make_student(root, q3_mutant=None, q2_mutant=None, q3_dir="hw2-q3", q2_dir="hw2-q2"):
    """A student's folder of our files, a mutant being {file: [(dotted name, source), ...]}."""
    for subdir, files, mutant in ((q3_dir, Q3_FILES, q3_mutant or {}), (q2_dir, Q2_FILES, q2_mutant or {})):
        target = Path(root) / subdir
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            (target / name).write_text(mutated(name, mutant.get(name, [])), encoding="utf-8")
    return Path(root)


# ----------------------------------------------------------------------------- the course's skeleton

NOT_IMPLEMENTED = '    raise NotImplementedError("Add your implementation.")\n'

# What the course hands out before anything is implemented: the parts to write raise, and the
# skeleton's CNN builds no layer and returns log_softmax of its input, reshaped.
SKELETON_Q3 = {
    "models.py": [
        ("Encoder.forward", "def forward(self, src, lengths):\n" + NOT_IMPLEMENTED),
        ("BahdanauAttention", '''
            class BahdanauAttention(nn.Module):
                def __init__(self, hidden_size):
                    super().__init__()
                    raise NotImplementedError("Add your implementation.")

                def forward(self, query, encoder_outputs, src_lengths):
                    raise NotImplementedError("Add your implementation.")
            '''),
        ("Decoder.forward", "def forward(self, tgt, dec_state, encoder_outputs, src_lengths):\n" + NOT_IMPLEMENTED),
    ],
    "hw2-q3.py": [("nucleus_sampling", "def nucleus_sampling(logits, p=0.8):\n" + NOT_IMPLEMENTED)],
}
SKELETON_Q2 = {
    "models.py": [
        ("ConvBlock.__init__", "def __init__(self, in_channels, out_channels, kernel_size, padding=None, maxpool=True,\n"
                               "             batch_norm=True, dropout=0.0):\n    super().__init__()\n" + NOT_IMPLEMENTED),
        ("ConvBlock.forward", "def forward(self, x):\n" + NOT_IMPLEMENTED),
        ("CNN.__init__", '''
            def __init__(self, dropout_prob, maxpool=True, batch_norm=True, conv_bias=True):
                super().__init__()
                channels = [3, 32, 64, 128]
                fc1_out_dim = 1024
                fc2_out_dim = 512
                self.maxpool = maxpool
                self.batch_norm = batch_norm
            '''),
        ("CNN.forward", '''
            def forward(self, x):
                x = x.reshape(x.shape[0], 3, 48, 48)
                return torch.log_softmax(x, dim=1)
            '''),
        ("get_number_trainable_params", "def get_number_trainable_params(model):\n" + NOT_IMPLEMENTED),
    ],
}
