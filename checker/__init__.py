"""The homework checker behind `python check_homework.py FOLDER [...]`, one module per concern.

    layout       where a folder's Q3 and Q2 files, checkpoints and the Q3 data are
    student      the student's modules imported in isolation; their exceptions told from ours
    verdicts     PASS, FAIL, WARN, SKIP: a check's result and the exceptions that say it
    tensors      tiny inputs and models built as the course's driver builds them
    q3_checks    Q3 by behaviour: reshape_state, encoder, decoder, the whole model, decoding rules
    attention    Q3.1b: the student's BahdanauAttention alone and inside their decoder
    course       the course driver's greedy loop, and this project's hw2-q3.py as the reference
    checkpoints  Q3 checkpoints scored as the course's `hw2-q3.py test` scores them
    q2_checks    Q2 by behaviour: the CNN's signature, size, switches, dropout, image layout
    folder       the list of checks and one folder's run through them
    runner       each folder in its own process, with a time limit
    output       the text lines, the summary table, JSON and CSV
"""
