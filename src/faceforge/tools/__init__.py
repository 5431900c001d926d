"""`faceforge tools`: the curation and plumbing tools used between extract, train and convert.

One module per tool group (alignments, smooth, sort, mask, media, model, faces_report). Each
tool is a config dataclass whose defaults come from its options (faceforge.options.tools) and a
library call `tool(config, on_event=None, stop=None) -> result`; the CLI and the GUI's jobs
(faceforge.jobs.kinds) call the same function. A result's `lines()` are what the CLI prints.
Tools that change files work on copies renamed into place, after a backup, so an interrupted
tool leaves each file as it was or complete.
"""
