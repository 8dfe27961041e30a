"""Stage 5 — report: what people read.

Owns rendering (:mod:`.render`: papermill + nbconvert with the offline template in ``templates/``,
atomic publish, the index), the data and views the notebooks call (:mod:`.data`, :mod:`.views`),
plotly charts, HTML helpers and the plain-text view of an analysis (:mod:`.text`).
May import every earlier stage; nothing imports it but the CLI and the bench.
"""
