"""The homework checker behind `python check_homework.py FOLDER [...]`, one module per concern.

The verdict policy (verdicts.STATUS decides a status from the kind of finding, and only there):

FAIL  the submission as submitted (its own models.py with its own hw2-q3.py / hw2-q2.py) breaks
      a requirement the statement states (a formula, masking, where dropout goes, the layers, the
      parameter counts, the nucleus set, the metrics), or the student's own code raises on the
      inputs the course's driver gives it. The message names the question, the student's
      file:line where it can, and the cause that really happens: it is run before it is said.
WARN  it works as submitted, but departs from the skeleton, the course's unmodified driver or
      the statement in a way no result depends on.
SKIP  the checker cannot judge, and says why (never while another probe can still judge the
      same requirement); or the check depends on a part that is unimplemented or already
      FAILs, and names that part.

The student's code is called as their own scripts call it (the arguments of their own calls, the
query their decoder hands the attention), a NaN or inf is a FAIL wherever it is read, and what a
forward pass computes is read off the torch operations it calls, whichever way they are written.

    layout       where a folder's Q3 and Q2 files, checkpoints and the Q3 data are
    student      the student's modules imported in isolation; their exceptions told from ours
    verdicts     the policy: the kinds of finding and the status each one gets
    tensors      tiny inputs and models built as the course's driver builds them
    tracing      what a forward pass computes: every torch operation it calls, however written; hooks
    q3_checks    Q3 by behaviour: reshape_state, encoder, decoder, the whole model, decoding rules
    attention    Q3.1b: the student's BahdanauAttention alone and inside their decoder
    driver       the student's own hw2-q3.py train, without and with --use_attn, one epoch on a slice
    course       the course driver's greedy loop, and this project's hw2-q3.py as the reference
    checkpoints  Q3 checkpoints scored as the course's `hw2-q3.py test` scores them
    q2_checks    Q2 by behaviour: the CNN's signature, size, switches, layer order, dropout, image layout
    folder       the list of checks and one question's run through them, each check's finding its return value
    runner       each folder in its own process, with a time limit, folders in parallel
    output       the text lines, the summary table, JSON and CSV
"""
