"""The book's furniture: figures (:mod:`helpers.book.plots`, :mod:`helpers.book.training_plots`),
interactive controls (:mod:`helpers.book.widgets`) and timing (:mod:`helpers.book.timing`).

Nothing here computes a result a lesson claims; it shows them.
"""
