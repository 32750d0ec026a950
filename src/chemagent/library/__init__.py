"""The compound library: loading, ID/name/InChIKey indexes, similarity and substructure search.

A library on disk is an *index directory* (see :mod:`chemagent.library.index`), written by
:func:`chemagent.library.build.build_index` and read by :func:`chemagent.library.load.load`.
"""
