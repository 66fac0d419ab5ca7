"""How closely our task generators follow the original bAbI generator's reference samples.

``reference``: read the reference files (``qaN_*.txt`` or ``.txt.bz2``) from a folder the
caller names. ``drifts``: undo the reference's known drifts from the released bAbI data
before comparing. ``forms``: sentence templates, labels and distributions of a set of
stories. ``logic``: story-logic counts (what each statement does given what came before).
``noise``: those metrics ours against the reference, with noise levels measured by
resampling the reference against itself. ``benchmarks/compare_babi_reference.py`` prints it all.
"""
